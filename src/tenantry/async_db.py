"""``AsyncSession`` factories for async apps, behind the same walls as the sync sessions.

The scoping, RLS and read-only hooks are attached to the ``Session`` class that
each ``AsyncSession`` wraps, so they run exactly as they do for sync sessions.
Drivers: aiosqlite on SQLite, psycopg 3's async mode on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, nullcontext
from typing import Any

import anyio
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import ENGINE_DEFAULTS, install_core_hooks, ping_when_idle
from tenantry.hooks import SessionFactory
from tenantry.read_only import READ_ONLY
from tenantry.scoping import TenantSession, bind_tenant, bound_context
from tenantry.sqlite import SQLITE_PRAGMAS, configure_sqlite

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}


def make_async_engine(
    url: str, *, sqlite_pragmas: Mapping[str, str] | None = None, **engine_kwargs: Any
) -> AsyncEngine:
    """An async engine on ``url`` (aiosqlite, psycopg async), SQLite set up as the sync one."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"no async driver for {backend}")
    engine = create_async_engine(
        parsed.set(drivername=_ASYNC_DRIVERS[backend]), **{**ENGINE_DEFAULTS, **engine_kwargs}
    )
    if backend == "postgresql" and "pool_pre_ping" not in engine_kwargs:
        ping_when_idle(engine.sync_engine)  # not a round trip before every transaction
    if backend == "sqlite":
        # No writer turns: a thread lock would block the event loop.
        configure_sqlite(
            engine.sync_engine, {**SQLITE_PRAGMAS, **(sqlite_pragmas or {})}, writer_turns=False
        )
    return engine


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
            self.engine.execution_options(**{READ_ONLY: True}),
            expire_on_commit=False,
            info={READ_ONLY: True},
            sync_session_class=read_class,
        )

        def writer() -> Session:
            """Audit events of reads: written after the read commits, inside its greenlet,
            with the write sessions' settings."""
            info = self.sessions.kw.get("info")
            return write_class(bind=self.engine.sync_engine, expire_on_commit=False, info=info)

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
