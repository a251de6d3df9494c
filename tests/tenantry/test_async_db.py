"""Async engines: their driver, their pool across event loops, and tenant data kept out
of error texts, as the sync ones do."""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tenantry.async_db import async_driver, make_async_engine
from tenantry.db import Database
from tenantry_server.settings import Settings
from tests.conftest import only_postgresql


def test_a_failing_async_statement_does_not_quote_its_parameters(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'app.db'}")

    async def fail() -> None:
        async with db.aio.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT no_such_function(?)", ("alice's secret",))

    with pytest.raises(OperationalError) as raised:
        asyncio.run(fail())
    assert "no_such_function" in str(raised.value)
    assert "alice's secret" not in str(raised.value)
    db.dispose()


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///app.db", "sqlite+aiosqlite"),
        ("postgresql+psycopg://app@db/app", "postgresql+asyncpg"),
        ("postgresql+psycopg://app@/app?host=/run/postgresql", "postgresql+asyncpg"),
        ("postgresql+psycopg://app@db/app?host=db&port=5433", "postgresql+asyncpg"),
        ("postgresql+psycopg://app@db/app?sslmode=require", "postgresql+asyncpg"),
        # libpq options asyncpg would refuse as keyword arguments: psycopg keeps them.
        (
            "postgresql+psycopg://app@db/app?sslmode=verify-full&sslrootcert=ca.pem",
            "postgresql+psycopg",
        ),
        ("postgresql://app@db/app?options=-c%20search_path%3Dapp", "postgresql+psycopg"),
    ],
)
def test_the_async_driver_takes_the_url_as_it_is(url: str, driver: str) -> None:
    assert async_driver(make_url(url)) == driver


@only_postgresql
def test_a_pooled_connection_survives_a_change_of_event_loop(settings: Settings) -> None:
    """asyncpg connections belong to the loop that opened them; one app may run on
    several (a test client without ``with``, successive ``asyncio.run`` calls)."""
    db = Database(settings.database_url)
    engine = db.aio.engine
    assert engine.dialect.driver == "asyncpg"

    async def backend_pid() -> int:
        async with engine.connect() as conn:
            return int((await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one())

    first = asyncio.run(backend_pid())
    assert asyncio.run(backend_pid()) != first  # the first loop's connection was replaced

    async def twice() -> tuple[int, int]:
        pids = await backend_pid(), await backend_pid()
        await engine.dispose()  # on the loop its connections belong to
        return pids

    again, reused = asyncio.run(twice())
    assert again == reused  # on one loop the pool reuses it as before
    db.dispose()


def test_connect_args_written_for_psycopg_keep_psycopg() -> None:
    url = make_url("postgresql+psycopg://app@db/app")
    args = {"options": "-c statement_timeout=5000"}
    assert async_driver(url, connect_args=args) == "postgresql+psycopg"
    engine = make_async_engine(str(url), connect_args=args)
    assert engine.dialect.driver == "psycopg"


def test_sslmode_reaches_asyncpg_as_its_ssl_argument() -> None:
    engine = make_async_engine("postgresql+psycopg://app@db/app?sslmode=require")
    _, kwargs = engine.sync_engine.dialect.create_connect_args(engine.url)
    assert kwargs["ssl"] == "require"
    assert "sslmode" not in kwargs


def test_a_disposed_database_s_async_sessions_are_freed(tmp_path: Path) -> None:
    # SQLAlchemy keeps a session class's hooks in a dictionary weakly keyed by the class:
    # a hook reaching back to its own class kept it, its engine and pool alive for good.
    freed: list[weakref.ref[object]] = []
    for name in ("a", "b"):
        db = Database(f"sqlite:///{tmp_path / name}.db")
        with db.session():
            pass
        freed += [weakref.ref(db.aio), weakref.ref(db.aio.engine)]
        db.dispose()
        del db
    gc.collect()
    assert [ref() for ref in freed] == [None] * len(freed)
