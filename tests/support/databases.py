"""Migrated test databases on either backend, as URLs for the owner and the app role."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine

from tenantry.migrations.runner import upgrade

TEST_MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class TestDatabase:
    """A migrated database: the core schema plus the test tenant tables.

    ``owner_url`` migrates and maintains; ``app_url`` is what an application uses.
    On SQLite, which has no roles, the two are the same.
    """

    __test__ = False  # not a pytest test class

    backend: str
    owner_url: str
    app_url: str


def migrate(url: str) -> None:
    """Apply the core migrations and the test tables' migration to ``url``."""
    engine = create_engine(url)
    try:
        upgrade(engine, [TEST_MIGRATIONS])
    finally:
        engine.dispose()


def sqlite_database(directory: Path) -> TestDatabase:
    url = f"sqlite:///{directory / 'tenantry.sqlite3'}"
    migrate(url)
    return TestDatabase("sqlite", url, url)
