"""Shared fixtures: migrated databases on each backend, apps and clients.

The PostgreSQL server starts only when a test asks for it (``-m 'not postgres'``
never starts it); see ``tests/support/postgres.py``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text

from tenantry.models import Base
from tenantry.rls import enable_rls_statements, grant_app_role, is_control_plane
from tenantry.security.passwords import Passwords, fast_test_hasher
from tenantry.testing import PASSWORD, Member, invite_and_join, register
from tenantry_server.app import create_app, default_plugins, migrate
from tenantry_server.settings import Settings
from tests.notes_app import NotesPlugin
from tests.support.databases import TestDatabase, sqlite_database
from tests.support.databases import migrate as migrate_test_db
from tests.support.mail import SmtpServer, smtp_server
from tests.support.placement import drop_placed, placement_for_tests, prepare_test_tables
from tests.support.postgres import (
    APP_ROLE,
    OWNER_ROLE,
    PostgresServer,
    postgres_server,
    second_postgres_server,
)
from tests.support.redis import RedisServer, redis_server

FAST_PASSWORDS = Passwords(fast_test_hasher())


def make_settings(url: str, data_dir: Path, **overrides: Any) -> Settings:
    # Request budgets (per tenant and user) are off unless a test is about them
    # (test_tenant_rate_limits): a suite that walks every route would measure 429s.
    overrides.setdefault("request_budgets", False)
    return Settings(database_url=url, data_dir=data_dir, secret_key="s" * 64, **overrides)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once (core + apps) plus the test-only notes tables."""
    directory = tmp_path_factory.mktemp("template")
    path = directory / "template.sqlite3"
    settings = make_settings(f"sqlite:///{path}", directory)
    migrate(settings, default_plugins())
    from tenantry.db import Database

    db = Database(settings.database_url)
    Base.metadata.create_all(db.engine)
    db.dispose()
    return path


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A fresh server database, once per backend: every API test runs on both.

    On PostgreSQL the app connects as the app role (RLS applies) and
    ``migration_database_url`` is the owner, as in production.
    """
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("template_db")
        path = tmp_path / "db.sqlite3"
        shutil.copy(template, path)
        yield make_settings(f"sqlite:///{path}", tmp_path, **_limits())
        return
    postgres: PostgresServer = request.getfixturevalue("postgres")
    name = postgres.create_database(template=request.getfixturevalue("pg_server_template"))
    yield make_settings(
        postgres.url(APP_ROLE, name),
        tmp_path,
        migration_database_url=postgres.url(OWNER_ROLE, name),
        **_limits(),
    )
    postgres.drop_database(name)


# Narrow a test of the ``settings`` family to one backend (it must name ``settings``).
only_sqlite = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
only_postgresql = pytest.mark.parametrize(
    "settings", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def is_postgres(settings: Settings) -> bool:
    return settings.database_url.startswith("postgresql")


def _limits() -> dict[str, Any]:
    return {}


@pytest.fixture
def app(settings: Settings, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FastAPI]:
    # TENANTRY_TEST_PLACEMENT=dedicated: every tenant in a database of its own (placement).
    settings = placement_for_tests(settings, request, tmp_path)
    application = create_app(
        settings, [*default_plugins(), NotesPlugin()], passwords=FAST_PASSWORDS
    )
    if application.state.tenancy.placements is not None:
        application.state.tenancy.placements.prepare = prepare_test_tables
    yield application
    drop_placed(application)
    application.state.tenancy.db.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


# One copy of the people helpers: the ones tenantry ships to its users (tenantry.testing).
__all__ = ["FAST_PASSWORDS", "PASSWORD", "Member", "invite_and_join", "register"]


@pytest.fixture
def tenantry_app(app: FastAPI) -> FastAPI:
    """The shipped plugin's fixtures (``tenantry_member``, ``tenantry_attack``…) use this app."""
    return app


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free port; ``smtp.url`` for TENANTRY_SMTP_URL."""
    with smtp_server() as server:
        yield server


@pytest.fixture
def alice(client: TestClient) -> Member:
    return register(client, "alice@example.com", tenant_name="Alice household")


@pytest.fixture
def bob(client: TestClient) -> Member:
    return register(client, "bob@example.com", tenant_name="Bob household")


@pytest.fixture
def operator(client: TestClient, app: FastAPI) -> Member:
    """A platform admin (the operator console and ``/api/admin``)."""
    from tenantry.platform_admins import set_platform_admin

    member = register(client, "ops@example.com", tenant_name="Ops")
    with app.state.tenancy.db.session() as session:
        set_platform_admin(session, email=member.email, grant=True)
    return member


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (started on first use, stopped at the end)."""
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_second() -> Iterator[PostgresServer]:
    """A second PostgreSQL server (another cluster, another port): tenants across servers."""
    with second_postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def pg_template(postgres: PostgresServer) -> Iterator[str]:
    """A migrated database that each test's database is cloned from."""
    name = postgres.create_database()
    migrate_test_db(postgres.url(OWNER_ROLE, name))
    yield name
    postgres.drop_database(name)


@pytest.fixture(scope="session")
def pg_server_template(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The server's schema on PostgreSQL, migrated as the owner, plus the test-only tables.

    The server's migrations (core and default plugins) must enable RLS themselves;
    only the tables created here with ``create_all`` (the notes app's, the test
    models') get it enabled by the fixture, as their migration would.
    """
    name = postgres.create_database()
    owner_url = postgres.url(OWNER_ROLE, name)
    directory = tmp_path_factory.mktemp("pg-template")
    server_settings = make_settings(
        postgres.url(APP_ROLE, name), directory, migration_database_url=owner_url
    )
    migrate(server_settings, default_plugins())
    engine = create_engine(owner_url)
    try:
        with engine.begin() as conn:
            before = set(inspect(conn).get_table_names())
            Base.metadata.create_all(conn)
            created = sorted(set(inspect(conn).get_table_names()) - before)
            for table in created:
                if not is_control_plane(table) and "tenant_id" in Base.metadata.tables[table].c:
                    for statement in enable_rls_statements(table):
                        conn.execute(text(statement))
            grant_app_role(conn, APP_ROLE)
    finally:
        engine.dispose()
    yield name
    postgres.drop_database(name)


@pytest.fixture
def pg_database(postgres: PostgresServer, pg_template: str) -> Iterator[TestDatabase]:
    """A fresh migrated PostgreSQL database, dropped after the test."""
    name = postgres.create_database(template=pg_template)
    yield TestDatabase("postgresql", postgres.url(OWNER_ROLE, name), postgres.url(APP_ROLE, name))
    postgres.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> TestDatabase:
    """A fresh migrated database, once per backend: the fixture to parametrise a suite with."""
    if request.param == "sqlite":
        return sqlite_database(tmp_path)
    db: TestDatabase = request.getfixturevalue("pg_database")
    return db


@pytest.fixture(scope="session")
def redis_session_server() -> Iterator[RedisServer]:
    """The session's ``redis-server`` (started on first use, stopped at the end)."""
    with redis_server() as server:
        yield server


@pytest.fixture
def redis(redis_session_server: RedisServer) -> Iterator[RedisServer]:
    """A running, empty Redis; tests that stop it get it started again afterwards."""
    if redis_session_server.proc is None:
        redis_session_server.start()
    redis_session_server.flush()
    yield redis_session_server
    if redis_session_server.proc is None:
        redis_session_server.start()


_SERVICE_MARKERS = ("postgres", "browser", "redis")
_skipped_service_tests: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and any(m in report.keywords for m in _SERVICE_MARKERS):
        _skipped_service_tests.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test that needs a real service is a failure, loudly."""
    if in_ci() and _skipped_service_tests:
        print(f"\nCI: {len(_skipped_service_tests)} service tests were skipped:")
        for nodeid in _skipped_service_tests:
            print(f"  {nodeid}")
        session.exitstatus = 1
