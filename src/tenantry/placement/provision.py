"""Create, migrate and drop a tenant's own database; keep its references to the control plane.

A dedicated database has the same schema as the control database (the same
migrations run on it), so its tenant tables keep ``tenant_id``, composite keys
and RLS. Their foreign keys to control tables are satisfied by stub rows: the
tenant's own row in ``tenantry_tenants`` and, for users that rows refer to,
nameless rows in ``tenantry_users`` (id only, no email, no password).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, insert, select
from sqlalchemy.engine import make_url

from tenantry.db import make_engine
from tenantry.errors import TenantryError
from tenantry.models import Tenant, User
from tenantry.models.user import NO_PASSWORD
from tenantry.placement.config import Server
from tenantry.placement.location import TENANT_DATABASE

Migrate = Callable[[Engine, Server], None]

STUB_DOMAIN = "placement.invalid"  # RFC 2606: never deliverable, never a real account


def _admin_dsn(server: Server) -> str:
    admin = make_url(server.admin_url or server.migration_url or server.url)
    return admin.set(drivername="postgresql").render_as_string(hide_password=False)


class ServerUnreachable(TenantryError):
    """A server of the placement configuration cannot be reached (down, refusing)."""

    code = "server_unavailable"
    status = 503


@contextmanager
def _admin(server: Server) -> Iterator[Any]:
    """An autocommit connection to ``server``'s maintenance database, as its admin role."""
    import psycopg

    try:
        conn = psycopg.connect(_admin_dsn(server), autocommit=True)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServerUnreachable(f"server {server.name!r} cannot be reached: {first}") from exc
    with conn:
        yield conn


def database_exists(server: Server, database: str) -> bool:
    """Whether ``database`` is on ``server`` (its file, or a PostgreSQL database)."""
    if server.is_sqlite:
        return (server.directory / f"{database}.sqlite3").exists()
    with _admin(server) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        return found.fetchone() is not None


def tenant_databases(server: Server) -> list[str]:
    """The databases on ``server`` named for a tenant (``tenant_<32 hex>``), whatever
    serves them: those of placements, and any a failed drop or an interrupted move left."""
    if server.is_sqlite:
        found = [p.name.removesuffix(".sqlite3") for p in server.directory.glob("tenant_*.sqlite3")]
    else:
        with _admin(server) as conn:
            rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'tenant_%'")
            found = [str(name) for (name,) in rows]
    return sorted(name for name in found if TENANT_DATABASE.fullmatch(name))


def create_database(server: Server, database: str) -> bool:
    """Create ``database`` on ``server`` if it is missing; ``True`` when it was created."""
    if server.is_sqlite:
        server.directory.mkdir(parents=True, exist_ok=True)
        path = server.directory / f"{database}.sqlite3"
        return not path.exists()  # the first connection creates the file
    from psycopg import sql

    with _admin(server) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            return False
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database))
        if server.owner:
            query += sql.SQL(" OWNER {}").format(sql.Identifier(server.owner))
        conn.execute(query)
    return True


_IN_USE = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = %s AND pid <> pg_backend_pid() AND state IS NOT NULL AND state <> 'idle'
"""


def wait_until_unused(server: Server, database: str, *, grace: float, timeout: float) -> bool:
    """Let the requests still using ``database`` finish before it is dropped: ``grace``
    seconds (one routed there before a move switched may not have connected yet), then
    until no connection is in a statement or a transaction, ``timeout`` at most.

    Dropping it at once cut those connections (``WITH (FORCE)``): a 503 for a request
    that had only been unlucky in its timing. Idle pooled connections are dropped with
    it; nothing routes to them any more. Whether it became unused in time; SQLite files
    need no wait (an unlinked file stays readable to whoever has it open)."""
    if server.is_sqlite:
        return True
    time.sleep(grace)
    deadline = time.monotonic() + timeout
    with _admin(server) as conn:
        while conn.execute(_IN_USE, (database,)).fetchone()[0]:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
    return True


def drop_database(server: Server, database: str) -> None:
    """Remove ``database`` (its file, or the PostgreSQL database) for good."""
    if server.is_sqlite:
        base = server.directory / f"{database}.sqlite3"
        for path in (base, Path(f"{base}-wal"), Path(f"{base}-shm")):
            path.unlink(missing_ok=True)
        return
    from psycopg import sql

    with _admin(server) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )


def migrate_dedicated(server: Server, database: str, migrate: Migrate) -> None:
    """Bring ``database`` to the newest schema, as the server's migration role."""
    engine = make_engine(server.database_url(database, role="migration"))
    try:
        migrate(engine, server)
    finally:
        engine.dispose()


def copy_tenant_row(control: Connection, target: Connection, tenant_id: uuid.UUID) -> None:
    """Put the tenant's row (as the control plane has it now) into ``target``, once."""
    table = Tenant.__table__
    assert isinstance(table, Table)
    if target.execute(select(table.c.id).where(table.c.id == tenant_id)).first() is not None:
        return
    row = control.execute(select(table).where(table.c.id == tenant_id)).mappings().one()
    target.execute(insert(table).values(dict(row)))


def ensure_user_stubs(target: Connection, user_ids: Iterable[int]) -> None:
    """Nameless ``tenantry_users`` rows for ``user_ids`` missing from ``target``."""
    wanted = {i for i in user_ids if i is not None}
    if not wanted:
        return
    table = User.__table__
    assert isinstance(table, Table)
    present = set(target.execute(select(table.c.id).where(table.c.id.in_(wanted))).scalars())
    missing = sorted(wanted - present)
    if missing:
        target.execute(
            insert(table),
            [
                {
                    "id": i,
                    "email": f"user-{i}@{STUB_DOMAIN}",
                    "password_hash": NO_PASSWORD,
                    "display_name": "",
                    "is_platform_admin": False,
                    "session_version": 0,
                }
                for i in missing
            ],
        )


def user_columns() -> list[tuple[str, str]]:
    """``(table, column)`` of every tenant-table column referring to ``tenantry_users``."""
    from tenantry.scoping import tenant_tables

    out: list[tuple[str, str]] = []
    for table in tenant_tables():
        for fk in table.foreign_keys:
            if fk.column.table.name == User.__tablename__:
                out.append((table.name, fk.parent.name))
    return sorted(out)
