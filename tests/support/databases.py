"""Migrated test databases on either backend, as URLs for the owner and the app role."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

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


def set_core_revision(url: str, revision: str) -> None:
    """Record ``revision`` as the core's applied one (the database's schema is left as it
    is): a migration pending, or a newer release's database."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE alembic_version SET version_num = :r WHERE version_num LIKE '00%'"),
                {"r": revision},
            )
    finally:
        engine.dispose()
