"""Apps with placements: a dedicated server of the backend under test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tenantry.models import TenantPlacement
from tenantry.placement import Placements
from tenantry_server.settings import Settings
from tests.conftest import is_postgres
from tests.support.placement import pg_server, placed_app, sqlite_server, write_placements
from tests.support.postgres import PostgresServer


@pytest.fixture
def servers(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    """A dedicated server of the settings' backend (SQLite files, or a PostgreSQL server)."""
    if is_postgres(settings):
        postgres: PostgresServer = request.getfixturevalue("postgres")
        return {"pg": pg_server(postgres)}
    return {"files": sqlite_server(tmp_path / "tenants")}


@pytest.fixture
def app(settings: Settings, servers: dict[str, Any], tmp_path: Path) -> Iterator[FastAPI]:
    toml = write_placements(tmp_path / "placements.toml", servers)
    with placed_app(settings, toml) as application:
        yield application
    drop_dedicated(application, servers)


def drop_dedicated(app: FastAPI, servers: dict[str, Any]) -> None:
    from tenantry.placement.provision import drop_database

    placements: Placements = app.state.tenancy.placements
    with placements.control.sessions() as session:
        rows = session.scalars(select(TenantPlacement)).all()
    for row in rows:
        if row.server and row.database:
            drop_database(placements.config.server(row.server), row.database)
