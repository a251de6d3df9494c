"""Routers added to an app by their route objects, built once per process.

FastAPI 0.16x keeps an included router nested and rebuilds each of its routes for
every app it is included in (dependencies, validators: ~0.5 ms a route, paid by the
app's first request). A server makes one app and never notices; a test suite that
makes an app per test paid ~100 ms a test for tenantry's ~300 routes. The routes of a
module-level router are complete (its prefix, tags and dependencies are in each), so
every app can share them.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """Add ``router``'s routes to ``app`` as they are, where ``include_router`` rebuilds them.

    Use it for routers defined once at import (their prefix and dependencies given to
    ``APIRouter``); ``app.dependency_overrides`` do not reach the routes it adds.
    """
    app.router.routes.extend(router.routes)
    changed = getattr(app.router, "_mark_routes_changed", None)  # FastAPI 0.16x's route cache
    if changed is not None:
        changed()
