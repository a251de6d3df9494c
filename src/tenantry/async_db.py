"""``AsyncSession`` factories for async apps, behind the same walls as the sync sessions.

The scoping, RLS and read-only hooks are attached to the ``Session`` class that
each ``AsyncSession`` wraps, so they run exactly as they do for sync sessions.
Drivers: aiosqlite on SQLite, psycopg 3's async mode on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

from tenantry.db import ping_when_idle
from tenantry.read_only import READ_ONLY, install_deferred_writes, install_read_only
from tenantry.rls.session import install_rls_context
from tenantry.scoping import install_scoping
from tenantry.sqlite import SQLITE_PRAGMAS, configure_sqlite

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}


def _session_class(*, read_only: bool, postgresql: bool) -> type[Session]:
    # A class of its own per factory: the hooks must not reach other users' sessions.
    cls: type[Session] = type("TenantAsyncSyncSession", (Session,), {})
    install_scoping(cls)
    if read_only:
        install_read_only(cls)
    if postgresql:
        install_rls_context(cls)
    return cls


def make_async_engine(
    url: str, *, sqlite_pragmas: Mapping[str, str] | None = None, **engine_kwargs: Any
) -> AsyncEngine:
    """An async engine on ``url`` (aiosqlite, psycopg async), SQLite set up as the sync one."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"no async driver for {backend}")
    engine = create_async_engine(parsed.set(drivername=_ASYNC_DRIVERS[backend]), **engine_kwargs)
    if backend == "postgresql" and "pool_pre_ping" not in engine_kwargs:
        ping_when_idle(engine.sync_engine)  # not a round trip before every transaction
    if backend == "sqlite":
        # No writer turns: a thread lock would block the event loop.
        configure_sqlite(
            engine.sync_engine, {**SQLITE_PRAGMAS, **(sqlite_pragmas or {})}, writer_turns=False
        )
    return engine


class AsyncSessions:
    """An async engine on ``url`` and its write and read-only ``AsyncSession`` factories."""

    def __init__(
        self, url: str, *, sqlite_pragmas: Mapping[str, str] | None = None, **engine_kwargs: Any
    ) -> None:
        self.engine = make_async_engine(url, sqlite_pragmas=sqlite_pragmas, **engine_kwargs)
        postgresql = self.engine.dialect.name == "postgresql"
        write_class = _session_class(read_only=False, postgresql=postgresql)
        read_class = _session_class(read_only=True, postgresql=postgresql)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=write_class
        )
        self.read_sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}),
            expire_on_commit=False,
            info={READ_ONLY: True},
            sync_session_class=read_class,
        )
        # Audit events of reads: written after the read commits, inside its greenlet.
        install_deferred_writes(
            read_class,
            sessionmaker(self.engine.sync_engine, class_=write_class, expire_on_commit=False),
        )

    async def dispose(self) -> None:
        await self.engine.dispose()
