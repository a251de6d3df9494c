"""An outage is told from a failing statement, on every driver."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from tenantry.async_db import make_async_engine
from tenantry.outages import is_connection_failure
from tests.support.ports import free_port
from tests.support.postgres import OWNER_ROLE, PostgresServer


def _failure(url: str, sql: str = "SELECT 1") -> DBAPIError:
    engine = create_engine(url)
    try:
        with pytest.raises(DBAPIError) as failure, engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()
    return failure.value


def _async_failure(url: str) -> DBAPIError:
    """What connecting through tenantry's async engine raises."""
    engine = make_async_engine(url)

    async def connect() -> None:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    with pytest.raises(DBAPIError) as failure:
        asyncio.run(connect())
    return failure.value


def test_a_closed_port_is_an_outage_with_psycopg() -> None:
    assert is_connection_failure(_failure(f"postgresql+psycopg://u@127.0.0.1:{free_port()}/x"))


def test_a_closed_port_is_an_outage_with_asyncpg() -> None:
    """asyncpg's ConnectionRefusedError came through SQLAlchemy unwrapped (a 500)."""
    pytest.importorskip("asyncpg")
    assert is_connection_failure(
        _async_failure(f"postgresql+asyncpg://u@127.0.0.1:{free_port()}/x")
    )


def test_a_sqlite_file_that_cannot_be_opened_is_an_outage(tmp_path: Path) -> None:
    assert is_connection_failure(_failure(f"sqlite:///{tmp_path / 'gone' / 'x.sqlite3'}"))


def test_a_failing_statement_is_no_outage(tmp_path: Path) -> None:
    missing = _failure(f"sqlite:///{tmp_path / 'x.sqlite3'}", "SELECT * FROM no_such_table")
    assert not is_connection_failure(missing)
    assert not is_connection_failure(ValueError("not a database error"))


@pytest.mark.postgres
def test_a_cancelled_statement_is_no_outage(postgres: PostgresServer) -> None:
    """psycopg raises a statement timeout (57014) as an OperationalError too."""
    url = postgres.url(OWNER_ROLE, "postgres")
    cancelled = _failure(url, "SET LOCAL statement_timeout = '1ms'; SELECT pg_sleep(1)")
    assert type(cancelled.orig).__name__ == "QueryCanceled"
    assert not is_connection_failure(cancelled)


@pytest.mark.postgres
def test_a_server_out_of_connections_is_an_outage_with_both_drivers(
    postgres: PostgresServer,
) -> None:
    """53300 (too many connections) answers the connect, with a SQLSTATE: asyncpg raised it
    unwrapped, neither driver's was an outage, and the request was a 500."""
    pytest.importorskip("asyncpg")
    admin = postgres.admin_url.set(drivername="postgresql+psycopg")
    owner = create_engine(admin, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(text("DROP ROLE IF EXISTS full_house"))
        conn.execute(text("CREATE ROLE full_house LOGIN PASSWORD 'x' CONNECTION LIMIT 0"))
    owner.dispose()
    full = postgres.admin_url.set(
        drivername="postgresql+psycopg", username="full_house", password="x", database="postgres"
    ).render_as_string(hide_password=False)
    assert is_connection_failure(_failure(full))
    assert is_connection_failure(_async_failure(full.replace("+psycopg", "+asyncpg", 1)))
