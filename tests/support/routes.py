"""Routes a test adds to the whole server, as a plugin (``tenantry_server.plugins.Plugin``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from tenantry.db import Database
from tenantry.web import Tenancy, add_routes
from tenantry_server.app import create_app, default_plugins
from tenantry_server.settings import Settings
from tests.conftest import FAST_PASSWORDS
from tests.notes_app import NotesPlugin


class RoutesPlugin:
    """Adds ``router`` and nothing else: no tables, no demo data."""

    migrations: Sequence[Path] = ()

    def __init__(self, name: str, router: APIRouter) -> None:
        self.name = name
        self.router = router

    def install(self, app: FastAPI, tenancy: Tenancy) -> None:
        add_routes(app, self.router)

    def seed_demo(self, db: Database, tenancy: Tenancy) -> list[str]:
        return []


def server_with(settings: Settings, name: str, router: APIRouter) -> FastAPI:
    """The server (meterbook and the notes app included) with ``router`` added."""
    plugins = [*default_plugins(), NotesPlugin(), RoutesPlugin(name, router)]
    return create_app(settings, plugins, passwords=FAST_PASSWORDS)


@contextmanager
def client_with(settings: Settings, name: str, router: APIRouter) -> Iterator[TestClient]:
    """A client of :func:`server_with`, its lifespan running."""
    app = server_with(settings, name, router)
    with TestClient(app) as client:
        yield client
    app.state.tenancy.db.dispose()
