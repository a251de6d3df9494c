"""Apps with placements configured: a directory of SQLite tenants and PostgreSQL servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine, inspect, text

from tenantry.models import Base
from tenantry.rls import enable_rls_statements, grant_app_role, is_control_plane
from tenantry_server.app import create_app, default_plugins
from tenantry_server.settings import Settings
from tests.notes_app import NotesPlugin
from tests.support.postgres import APP_ROLE, OWNER_ROLE, PostgresServer


def sqlite_server(directory: Path) -> dict[str, Any]:
    return {"url": f"sqlite:///{directory}"}


def pg_server(postgres: PostgresServer) -> dict[str, Any]:
    """A placement server on ``postgres``: the app role at run time, the owner migrates."""
    admin = postgres.admin_url.set(drivername="postgresql+psycopg")
    return {
        "url": postgres.url(APP_ROLE, "postgres"),
        "migration_url": postgres.url(OWNER_ROLE, "postgres"),
        "admin_url": admin.render_as_string(hide_password=False),
        "owner": OWNER_ROLE,
        "app_role": APP_ROLE,
    }


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def write_placements(
    path: Path,
    servers: dict[str, dict[str, Any]],
    *,
    default: str = "shared",
    plans: dict[str, str] | None = None,
    **extra: Any,
) -> Path:
    lines = [f"default = {_toml(default)}"]
    lines += [f"{k} = {_toml(v)}" for k, v in extra.items()]
    lines.append("[plans]")
    lines += [f"{k} = {_toml(v)}" for k, v in (plans or {}).items()]
    for name, server in servers.items():
        lines.append(f'[servers."{name}"]')
        lines += [f"{k} = {_toml(v)}" for k, v in server.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def prepare_test_tables(engine: Engine) -> None:
    """The test-only tables (notes app) on a new tenant database, with RLS on PostgreSQL."""
    with engine.begin() as conn:
        before = set(inspect(conn).get_table_names())
        Base.metadata.create_all(conn)
        if engine.dialect.name != "postgresql":
            return
        for table in sorted(set(inspect(conn).get_table_names()) - before):
            if not is_control_plane(table) and "tenant_id" in Base.metadata.tables[table].c:
                for statement in enable_rls_statements(table):
                    conn.execute(text(statement))
        grant_app_role(conn, APP_ROLE)


PLACEMENT_ENV = "TENANTRY_TEST_PLACEMENT"


def placement_for_tests(settings: Settings, request: Any, tmp_path: Path) -> Settings:
    """``TENANTRY_TEST_PLACEMENT=dedicated``: every new tenant gets a database of its own.

    On PostgreSQL the tenants are spread over two servers (two clusters, two ports),
    on SQLite over a directory of files. Unset: ``settings`` unchanged (all shared).
    """
    if os.environ.get(PLACEMENT_ENV, "") != "dedicated":
        return settings
    if settings.database_url.startswith("postgresql"):
        servers = {
            "pg-a": pg_server(request.getfixturevalue("postgres")),
            "pg-b": pg_server(request.getfixturevalue("postgres_second")),
        }
    else:
        servers = {"files": sqlite_server(tmp_path / "tenants")}
    toml = write_placements(tmp_path / "placements.toml", servers, default="dedicated")
    return settings.model_copy(update={"placements_file": toml})


def drop_placed(app: FastAPI) -> None:
    """Drop the dedicated databases an app made (PostgreSQL ones outlive the test otherwise)."""
    from sqlalchemy import select

    from tenantry.models import TenantPlacement
    from tenantry.placement.provision import drop_database

    placements = app.state.tenancy.placements
    if placements is None:
        return
    placements.dispose()
    with placements.control.sessions() as session:
        rows = session.scalars(select(TenantPlacement)).all()
    for row in rows:
        if row.server and row.database and row.server in placements.config.servers:
            drop_database(placements.config.server(row.server), row.database)


@contextmanager
def placed_app(settings: Settings, placements: Path) -> Iterator[FastAPI]:
    from tests.conftest import FAST_PASSWORDS

    settings = settings.model_copy(update={"placements_file": placements})
    app = create_app(settings, [*default_plugins(), NotesPlugin()], passwords=FAST_PASSWORDS)
    app.state.tenancy.placements.prepare = prepare_test_tables
    try:
        yield app
    finally:
        app.state.tenancy.placements.dispose()
        app.state.tenancy.db.dispose()


@contextmanager
def two_server_app(settings: Settings, request: Any, tmp_path: Path) -> Iterator[FastAPI]:
    """An app with two servers of the settings' backend, ``one`` and ``two`` (two SQLite
    directories, or two PostgreSQL clusters); every tenant starts shared."""
    if settings.database_url.startswith("postgresql"):
        servers = {
            "one": pg_server(request.getfixturevalue("postgres")),
            "two": pg_server(request.getfixturevalue("postgres_second")),
        }
    else:
        servers = {"one": sqlite_server(tmp_path / "one"), "two": sqlite_server(tmp_path / "two")}
    toml = write_placements(tmp_path / "placements.toml", servers)
    with placed_app(settings, toml) as application:
        try:
            yield application
        finally:
            drop_placed(application)
