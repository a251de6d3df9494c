"""Engines and session factories for SQLite and PostgreSQL, with scoping installed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from tenantry.read_only import READ_ONLY, install_deferred_writes, install_read_only
from tenantry.rls.session import install_rls_context
from tenantry.row_audit import install_row_audit
from tenantry.scoping import install_scoping

__all__ = ["READ_ONLY", "SQLITE_PRAGMAS", "Database", "make_engine"]

SQLITE_PRAGMAS: Mapping[str, str] = {
    "journal_mode": "WAL",
    "synchronous": "NORMAL",
    "foreign_keys": "ON",
    "busy_timeout": "10000",
}


def _configure_sqlite(engine: Engine, pragmas: Mapping[str, str]) -> None:
    """WAL, a busy timeout, foreign keys on; writers begin ``IMMEDIATE``, readers deferred.

    pysqlite's own transaction handling is switched off so that a writing
    transaction takes the write lock up front: a read-then-write (an invite's
    use count, a meter reading checked against the previous one) can then never
    fail with "database is locked" half way, it waits its turn instead. A
    read-only transaction (:mod:`tenantry.read_only`) begins deferred and takes
    no lock at all: WAL readers never wait for writers, nor writers for them.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for name, value in pragmas.items():
            cur.execute(f"PRAGMA {name}={value}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = bool(conn.get_execution_options().get(READ_ONLY, False))
        info = conn.info  # lives with the pooled DBAPI connection
        if info.get(READ_ONLY, False) != read_only:
            # A Core write slipping past the ORM guard fails here, never half way.
            conn.exec_driver_sql(f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
            info[READ_ONLY] = read_only
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_engine(
    url: str, *, sqlite_pragmas: Mapping[str, str] | None = None, **kwargs: Any
) -> Engine:
    """Create an engine for ``url`` (``sqlite:///…`` or ``postgresql+psycopg://…``).

    ``sqlite_pragmas`` override or extend :data:`SQLITE_PRAGMAS` (maintenance tools).
    """
    parsed = make_url(url)
    # A failing statement's parameters are tenant data: never in an exception's text, nor a log.
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine, {**SQLITE_PRAGMAS, **(sqlite_pragmas or {})})
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


class Database:
    """One engine and its scoped session factory; created by the host, passed in."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        # Safe requests and long reads (exports, CSV streams): never write; on SQLite a
        # deferred BEGIN that takes no lock (tenantry.read_only).
        self.read_sessions: sessionmaker[Session] = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}),
            expire_on_commit=False,
            info={READ_ONLY: True},
        )
        install_scoping(self.sessions)
        install_scoping(self.read_sessions)
        install_read_only(self.read_sessions)
        install_deferred_writes(self.read_sessions, self.sessions)
        install_row_audit(self.sessions)
        if self.engine.dialect.name == "postgresql":
            install_rls_context(self.sessions)
            install_rls_context(self.read_sessions)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
