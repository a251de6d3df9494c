"""``AsyncSession`` factories for async apps, behind the same walls as the sync sessions.

The scoping, RLS and read-only hooks are attached to the ``Session`` class that
each ``AsyncSession`` wraps, so they run exactly as they do for sync sessions.
Drivers: aiosqlite on SQLite; on PostgreSQL asyncpg, or psycopg 3's async mode
when asyncpg is not installed or the URL carries libpq options asyncpg does not take
(:func:`async_driver`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, nullcontext
from typing import Any

import anyio
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import (
    ENGINE_DEFAULTS,
    install_core_hooks,
    ping_when_idle,
    read_infinity_on_connect,
)
from tenantry.hooks import SessionFactory
from tenantry.read_only import READ_ONLY, read_only_options
from tenantry.scoping import TenantSession, bind_tenant, bound_context
from tenantry.sqlite import SQLITE_PRAGMAS, configure_sqlite

# What asyncpg takes from a URL's query (``sslmode`` as its ``ssl``, which accepts the same
# values); other libpq options (options, application_name, sslrootcert, …) are psycopg's
# alone, so such a URL keeps psycopg.
_ASYNCPG_QUERY = frozenset({"host", "port", "sslmode"})


def async_driver(url: URL, *, connect_args: Mapping[str, Any] | None = None) -> str:
    """The async driver for ``url``'s database.

    On PostgreSQL asyncpg when it is installed (the ``async`` extra) and can take the
    URL as it is: a request's statements cost ~15 % less CPU than through psycopg's
    async mode (ADR 0008). Otherwise psycopg's async mode, also when the host passes
    ``connect_args``: those were written for psycopg, the sync engine's driver.
    """
    backend = url.get_backend_name()
    if backend == "sqlite":
        return "sqlite+aiosqlite"
    if backend != "postgresql":
        raise ValueError(f"no async driver for {backend}")
    if (
        not connect_args
        and set(url.query) <= _ASYNCPG_QUERY
        and importlib.util.find_spec("asyncpg") is not None
    ):
        return "postgresql+asyncpg"
    return "postgresql+psycopg"


# A fixed pool on PostgreSQL: SQLAlchemy's default (5, and 10 more "overflow" connections
# closed as soon as they are returned) opened and closed connections all the time once more
# than five requests ran at once: 57-73 new asyncpg connections in a 3-second run of 32
# clients on one worker, each a login and a round of type queries, and req/s fell to
# 0.85x of 4 clients'. With ten and no overflow: 0-6, and 0.94-0.98x. A request beyond
# ten waits on the event loop for a connection (as it queued for a core anyway).
PG_POOL: Mapping[str, Any] = {"pool_size": 10, "max_overflow": 0}


def make_async_engine(
    url: str, *, sqlite_pragmas: Mapping[str, str] | None = None, **engine_kwargs: Any
) -> AsyncEngine:
    """An async engine on ``url`` (:func:`async_driver`), SQLite set up as the sync one."""
    parsed = make_url(url)
    driver = async_driver(parsed, connect_args=engine_kwargs.get("connect_args"))
    parsed = parsed.set(drivername=driver)
    if driver == "postgresql+asyncpg" and "sslmode" in parsed.query:
        sslmode = parsed.query["sslmode"]
        parsed = parsed.difference_update_query(["sslmode"]).update_query_dict({"ssl": sslmode})
    backend = parsed.get_backend_name()
    pool = PG_POOL if backend == "postgresql" and "poolclass" not in engine_kwargs else {}
    engine = create_async_engine(parsed, **{**ENGINE_DEFAULTS, **pool, **engine_kwargs})
    if driver == "postgresql+asyncpg":
        one_loop_per_connection(engine)  # first: before a ping on a foreign connection
        wrap_connect_failures(engine)
    elif driver == "postgresql+psycopg":
        read_infinity_on_connect(engine.sync_engine)
    if backend == "postgresql" and "pool_pre_ping" not in engine_kwargs:
        ping_when_idle(engine.sync_engine)  # not a round trip before every transaction
    if backend == "sqlite":
        # No writer turns: a thread lock would block the event loop.
        configure_sqlite(
            engine.sync_engine, {**SQLITE_PRAGMAS, **(sqlite_pragmas or {})}, writer_turns=False
        )
    return engine


def wrap_connect_failures(engine: AsyncEngine) -> None:
    """Raise asyncpg's failures to connect as the driver's ``OperationalError``, as
    psycopg does: SQLAlchemy passes an ``OSError`` (refused, unreachable, timed out) on
    unwrapped and a server's refusal (too many connections, starting up) as a generic
    ``Error``, and an outage then looked like a fault of ours (``tenantry.outages``) on
    this driver alone. A server's refusal keeps its SQLSTATE."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        dbapi = dialect.loaded_dbapi
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as failure:
            raise dbapi.OperationalError(type(failure).__name__) from failure
        except dbapi.Error as failure:
            if isinstance(failure, dbapi.OperationalError):
                raise
            error = dbapi.OperationalError(str(failure))
            error.pgcode = error.sqlstate = getattr(failure, "sqlstate", None)
            raise error from failure


_LOOP = "tenantry.event_loop"


def one_loop_per_connection(engine: AsyncEngine) -> None:
    """Replace a pooled asyncpg connection checked out on another event loop than the
    one that opened it, instead of failing on it.

    An asyncpg connection belongs to the loop that opened it. A server has one loop a
    process, but one app may see several: a test client without ``with`` runs each
    request on a loop of its own, and so do successive ``asyncio.run`` calls.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _same_loop(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        opened_on = record.info.get(_LOOP)
        if opened_on is None:
            record.info[_LOOP] = weakref.ref(loop)
            return
        if opened_on() is loop:
            return
        # Drop it without awaiting anything of its own loop (closed, or another thread's):
        # the pool's graceful close then finds it closed.
        with contextlib.suppress(Exception):
            dbapi_connection.driver_connection.terminate()
        del record.info[_LOOP]
        raise exc.DisconnectionError("a connection of another event loop")


class AsyncSessions:
    """An async engine on ``url`` and its write and read-only ``AsyncSession`` factories.

    Made by :attr:`Database.aio <tenantry.db.Database.aio>`, which also gives them the
    host's hooks (quotas, metering, mail): use that rather than this class directly.
    """

    def __init__(
        self, url: str, *, sqlite_pragmas: Mapping[str, str] | None = None, **engine_kwargs: Any
    ) -> None:
        self.engine = make_async_engine(url, sqlite_pragmas=sqlite_pragmas, **engine_kwargs)
        # Classes of their own: the hooks must not reach other users' sessions.
        write_class: type[Session] = type("TenantAsyncWrites", (TenantSession,), {})
        read_class: type[Session] = type("TenantAsyncReads", (TenantSession,), {})
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=write_class
        )
        self.read_sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine.execution_options(**read_only_options(self.engine.dialect.name)),
            expire_on_commit=False,
            info={READ_ONLY: True},
            sync_session_class=read_class,
        )

        writes, engine = self.sessions, self.engine.sync_engine

        def writer() -> Session:
            """Audit events of reads: written after the read commits, inside its greenlet,
            with the write sessions' settings.

            It holds the write factory, not ``self``: it is a hook of ``read_class``, and
            SQLAlchemy keeps a class's hooks in a dictionary weakly keyed by the class, so
            a hook that reached back to ``read_class`` would keep it, its engine and its
            pool alive for good: one set for every Database a process makes and disposes
            (a host's test suite, a script)."""
            return write_class(bind=engine, expire_on_commit=False, info=writes.kw.get("info"))

        install_core_hooks(
            self.sessions,
            self.read_sessions,
            writer=writer,
            postgresql=self.engine.dialect.name == "postgresql",
        )

    @asynccontextmanager
    async def session_for(
        self, ctx: TenantContext | None, *, read_only: bool
    ) -> AsyncIterator[AsyncSession]:
        """A session serving ``ctx``'s tenant (none: not bound yet), committed when the
        block ends and rolled back if it raises.

        The commit runs in the tenant the session served, and the commit, rollback
        and close are shielded: a cancelled request never leaves a transaction open
        nor drops what its reads deferred (audit events).
        """
        session = (self.read_sessions if read_only else self.sessions)()
        if ctx is not None:
            bind_tenant(session.sync_session, ctx)
        try:
            yield session
        except BaseException:
            with anyio.CancelScope(shield=True):
                await session.rollback()
                await session.close()
            raise
        bound = bound_context(session.sync_session)
        with anyio.CancelScope(shield=True):
            try:
                with tenant_scope(bound) if bound is not None else nullcontext():
                    await session.commit()
            finally:
                await session.close()  # rolls back whatever a failed commit left

    def factories(self) -> list[tuple[SessionFactory, bool]]:
        """Its session factories and whether each writes, for the host's session setups."""
        return [(self.sessions, True), (self.read_sessions, False)]

    async def dispose(self) -> None:
        await self.engine.dispose()
