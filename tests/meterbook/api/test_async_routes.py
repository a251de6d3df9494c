"""The async API routes stay on the event loop: no dependency of theirs runs in a thread.

A plain ``def`` dependency is sent to the thread pool, a round trip through another
thread on every request (a page of readings paid ~3 % of its CPU for date parsing).
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI

from tenantry.web.openapi import api_routes


def _sync_dependencies(dependant: Any) -> list[str]:
    found = []
    for sub in dependant.dependencies:
        call = sub.call
        if call is not None and not (
            inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)
        ):
            found.append(getattr(call, "__qualname__", repr(call)))
        found += _sync_dependencies(sub)
    return found


def test_async_routes_have_no_thread_bound_dependency(app: FastAPI) -> None:
    routes = [r for r in api_routes(app) if inspect.iscoroutinefunction(r.endpoint)]
    assert any(r.path == "/api/readings" and "GET" in r.methods for r in routes)
    offenders = {
        f"{sorted(r.methods)} {r.path}": deps
        for r in routes
        if (deps := _sync_dependencies(r.dependant))
    }
    assert offenders == {}
