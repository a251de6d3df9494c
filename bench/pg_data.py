"""A throwaway PostgreSQL holding a copy of a SQLite fixture, migrated and with RLS on.

Uses the test suite's cluster (tests/support/postgres.py): migrations run as the owner
role, tenantry's server connects as the app role (no BYPASSRLS, the readings policy
applies), and the hand-written app connects as ``bench_plain``, a role that row-level
security does not apply to, since it writes the tenant filter itself. Rows are copied
as the cluster's superuser (FORCE RLS would refuse rows without a tenant setting).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from tests.support.postgres import APP_ROLE, OWNER_ROLE, PostgresServer, postgres_server

from bench.datagen import Fixture
from tenantry_server.app import default_plugins, migrate
from tenantry_server.settings import Settings

PLAIN_ROLE = "bench_plain"
TABLES = ("tenantry_tenants", "tenantry_users", "tenantry_memberships", "readings")


@dataclass(frozen=True)
class PgFixture:
    server: PostgresServer
    database: str
    fixture: Fixture

    def url(self, role: str, driver: str = "psycopg") -> str:
        return self.server.url(role, self.database).replace("+psycopg", f"+{driver}")

    @property
    def app_url(self) -> str:
        return self.url(APP_ROLE)

    @property
    def owner_url(self) -> str:
        return self.url(OWNER_ROLE)

    def admin(self, database: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
        url = self.server.admin_url.set(drivername="postgresql", database=database or self.database)
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def _copy(src: Path, conn: psycopg.Connection[tuple[object, ...]]) -> int:
    lite = sqlite3.connect(src)
    copied = 0
    try:
        for table in TABLES:
            cols = [r[1] for r in lite.execute(f"PRAGMA table_info({table})")]
            query = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, cols))
            )
            with conn.cursor().copy(query) as copy:
                for row in lite.execute(f"SELECT {', '.join(cols)} FROM {table}"):
                    copy.write_row(row)
                    copied += 1
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    finally:
        lite.close()
    return copied


@contextmanager
def pg_fixture(fx: Fixture) -> Iterator[PgFixture]:
    """A migrated database with ``fx``'s tenants, users, memberships and readings."""
    with postgres_server() as server:
        name = server.create_database()
        settings = Settings(
            database_url=server.url(APP_ROLE, name),
            migration_database_url=server.url(OWNER_ROLE, name),
            app_role=APP_ROLE,
            secret_key="p" * 40,
            data_dir=fx.path.parent / "var",
        )
        migrate(settings, default_plugins())
        pg = PgFixture(server, name, fx)
        with pg.admin() as conn:
            conn.execute("SET TIME ZONE 'UTC'")
            _copy(fx.path, conn)
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PLAIN_ROLE,))
            if exists.fetchone() is None:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN BYPASSRLS").format(sql.Identifier(PLAIN_ROLE))
                )
            conn.execute(
                sql.SQL(
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}"
                ).format(sql.Identifier(PLAIN_ROLE))
            )
        try:
            yield pg
        finally:
            server.drop_database(name)
