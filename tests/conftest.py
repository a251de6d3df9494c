"""Session-wide fixtures: a throwaway PostgreSQL server and migrated databases on each backend.

The PostgreSQL server starts only when a test asks for it (``-m 'not postgres'``
never starts it); see ``tests/support/postgres.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import TestDatabase, migrate, sqlite_database
from tests.support.postgres import APP_ROLE, OWNER_ROLE, PostgresServer, postgres_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (started on first use, stopped at the end)."""
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def pg_template(postgres: PostgresServer) -> Iterator[str]:
    """A migrated database that each test's database is cloned from."""
    name = postgres.create_database()
    migrate(postgres.url(OWNER_ROLE, name))
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
