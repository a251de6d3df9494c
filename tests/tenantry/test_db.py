"""Pooled PostgreSQL connections: pinged only after sitting idle, replaced when dead."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, event, exc, text

from tenantry.db import make_engine, ping_when_idle
from tests.support.postgres import APP_ROLE, PostgresServer

pytestmark = pytest.mark.postgres


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(postgres: PostgresServer, pid: int) -> None:
    url = postgres.admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.fixture
def url(postgres: PostgresServer) -> Iterator[str]:
    name = postgres.create_database()
    yield postgres.url(APP_ROLE, name)
    postgres.drop_database(name)


def test_an_idle_connection_killed_by_the_server_is_replaced_before_use(
    postgres: PostgresServer, url: str
) -> None:
    engine = create_engine(url, pool_size=1)
    ping_when_idle(engine, idle=0)  # every checkout counts as "after idling"
    try:
        dead = _backend_pid(engine)
        _terminate(postgres, dead)
        assert _backend_pid(engine) != dead  # pinged, found dead, replaced: no error
    finally:
        engine.dispose()


def test_without_the_ping_the_same_dead_connection_fails_a_statement(
    postgres: PostgresServer, url: str
) -> None:
    """The control: the test above would fail if the ping did nothing."""
    engine = create_engine(url, pool_size=1)
    try:
        _terminate(postgres, _backend_pid(engine))
        with pytest.raises(exc.OperationalError):
            _backend_pid(engine)
    finally:
        engine.dispose()


def test_a_connection_in_steady_use_is_not_pinged(url: str) -> None:
    engine = make_engine(url, pool_size=1)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    pings: list[object] = []
    original = engine.dialect.do_ping
    engine.dialect.do_ping = lambda c: pings.append(c) or original(c)  # type: ignore[method-assign]
    try:
        for _ in range(5):
            _backend_pid(engine)
        assert pings == []  # checked in a moment ago each time: alive, no round trip
        assert len(statements) == 5
    finally:
        engine.dispose()
