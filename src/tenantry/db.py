"""Engines and session factories for SQLite and PostgreSQL, with scoping installed."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    create_engine,
    event,
    exc,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from tenantry.hooks import SessionFactory
from tenantry.lengths import install_lengths
from tenantry.raw import compiled_select, raw_selects_last, statement_logs
from tenantry.read_only import (
    READ_ONLY,
    has_deferred_writes,
    install_deferred_writes,
    install_read_only,
    read_only_options,
)
from tenantry.rls.session import install_rls_context
from tenantry.row_audit import install_row_audit
from tenantry.scoping import TenantSession, install_scoping
from tenantry.sqlite import SQLITE_PRAGMAS, WriterTurns, configure_sqlite, writer_turns_of

if TYPE_CHECKING:
    from tenantry.async_db import AsyncSessions
    from tenantry.inline_writes import InlineWrites

__all__ = [
    "READ_ONLY",
    "SQLITE_PRAGMAS",
    "Database",
    "InlineReads",
    "NotInline",
    "SessionSetup",
    "has_async_driver",
    "make_engine",
]

T = TypeVar("T")

# Every engine's, sync and async: a failing statement's parameters are tenant data, never
# in an exception's text nor a log.
ENGINE_DEFAULTS: Mapping[str, Any] = {"hide_parameters": True}

# A host's hooks for one session factory of a Database: ``setup(factory, writes)``.
SessionSetup = Callable[[SessionFactory, bool], None]


def install_core_hooks(
    write: SessionFactory,
    read: SessionFactory,
    *,
    writer: Callable[[], Session],
    postgresql: bool,
) -> None:
    """The hooks no session of a tenantry database goes without: tenant scoping, refused
    writes in reads, row audit, audit events of reads (written by ``writer``'s sessions)
    and, on PostgreSQL, the RLS tenant of each transaction."""
    install_write_hooks(write, postgresql=postgresql)
    install_scoping(read)
    if postgresql:
        install_rls_context(read)
    install_read_only(read)
    install_deferred_writes(read, writer)


def install_write_hooks(factory: SessionFactory, *, postgresql: bool) -> None:
    """What every writing session factory gets: tenant scoping, the row audit, declared
    string lengths held (:mod:`tenantry.lengths`) and, on PostgreSQL, the RLS tenant of
    each transaction (also the event loop's SQLite writes,
    :mod:`tenantry.inline_writes`)."""
    install_scoping(factory)
    if postgresql:
        install_rls_context(factory)
    install_row_audit(factory)
    install_lengths(factory)


def make_engine(
    url: str,
    *,
    sqlite_pragmas: Mapping[str, str] | None = None,
    writer_turns: bool | WriterTurns = True,
    **kwargs: Any,
) -> Engine:
    """Create an engine for ``url`` (``sqlite:///…`` or ``postgresql+psycopg://…``).

    ``sqlite_pragmas`` override or extend :data:`SQLITE_PRAGMAS` (maintenance tools);
    ``writer_turns`` is :func:`~tenantry.sqlite.configure_sqlite`'s.
    """
    parsed = make_url(url)
    kwargs = {**ENGINE_DEFAULTS, **kwargs}
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, **kwargs)
        pragmas = {**SQLITE_PRAGMAS, **(sqlite_pragmas or {})}
        configure_sqlite(engine, pragmas, writer_turns=writer_turns)
        return engine
    engine = create_engine(url, **kwargs)
    if parsed.get_driver_name() == "psycopg":
        read_infinity_on_connect(engine)
    if "pool_pre_ping" not in kwargs:
        ping_when_idle(engine)
    return engine


def read_infinity_on_connect(engine: Engine) -> None:
    """psycopg reads PostgreSQL's ``±infinity`` dates and times as asyncpg does
    (:mod:`tenantry.pg_infinity`), on each new connection of ``engine``."""
    from tenantry.pg_infinity import read_infinity

    @event.listens_for(engine, "connect")
    def _connected(dbapi_connection: Any, _record: Any) -> None:
        read_infinity(getattr(dbapi_connection, "driver_connection", dbapi_connection))


# A connection back in the pool for longer than this is pinged before it is handed out.
IDLE_PING_SECONDS = 10.0
_CHECKED_IN = "tenantry.checked_in"


def ping_when_idle(engine: Engine, idle: float = IDLE_PING_SECONDS) -> None:
    """Ping a pooled connection at checkout only when it sat idle for ``idle`` seconds.

    ``pool_pre_ping`` pings at every checkout: a round trip per transaction, ~3 ms of a
    ~13 ms PostgreSQL request here (two checkouts each). Connections that were just in use
    are alive; the ones that sat idle are the ones a database restart or a proxy timeout
    leaves dead. A dead one is replaced before use (SQLAlchemy's checkout-event recipe); a
    connection dropped while in use fails its statement, and the pool then discards every
    connection older than that failure.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN)
        if since is None or time.monotonic() - since < idle:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError("the pooled connection is gone") from error


class NotInline(Exception):
    """A read that cannot end on the event loop (too long, or it has an audit event to
    write): run it in a worker thread."""


# SQLite calls the progress handler every this many virtual machine steps (10-25 µs).
_PROGRESS_STEPS = 1000
# session.info key: the step budget of a bounded read, and the connections it armed.
_ARMED = "tenantry.inline_steps"
# How long work that ran out of steps goes straight to a thread, and how many to remember.
SLOW_WORK_MEMORY = 30.0
_SLOW_KEYS = 10_000


class StepBudget:
    """SQLite's progress handler for work bounded to ``steps`` virtual machine steps: it
    interrupts the statement running once they are spent (~40-90k a millisecond here).
    Steps, not time: a busy server must not push its ordinary work to threads."""

    __slots__ = ("left",)

    def __init__(self, steps: int) -> None:
        self.left = steps // _PROGRESS_STEPS

    def __call__(self) -> bool:
        self.left -= 1
        return self.left < 0

    @property
    def spent(self) -> bool:
        return self.left < 0

    def arm(self, sqlite: Any) -> None:
        """Count the steps of ``sqlite`` (a sqlite3 connection) against this budget."""
        sqlite.set_progress_handler(self, _PROGRESS_STEPS)


class SlowKeys:
    """Work (a function and its tenant) that ran out of steps, sent straight to a thread
    for :data:`SLOW_WORK_MEMORY` seconds: a heavy tenant does not hold the event loop
    again on every request."""

    def __init__(self) -> None:
        self._until: dict[Hashable, float] = {}

    def __contains__(self, key: Hashable) -> bool:
        return self._until.get(key, 0.0) > time.monotonic()

    def add(self, key: Hashable) -> None:
        now = time.monotonic()
        if len(self._until) >= _SLOW_KEYS:
            self._until = {k: until for k, until in self._until.items() if until > now}
        self._until[key] = now + SLOW_WORK_MEMORY


def _arm(session: Session, _tx: Any, connection: Connection) -> None:
    """Count the steps of a bounded read (:meth:`InlineReads.read_within`) on each
    connection its session begins: the control database's and a tenant's own file."""
    armed = session.info.get(_ARMED)
    if armed is not None:
        sqlite = connection.connection.dbapi_connection
        armed[0].arm(sqlite)
        armed[1].append(sqlite)


class InlineReads:
    """Short reads of an SQLite file on connections of their own, for the event loop.

    A membership check is one indexed read of a local file, a few dozen µs in SQLite;
    the hop to a worker thread and back costs more than that, and with the GIL shared
    it queues behind other requests' Python work. The reads have a pool of their own
    that never makes a caller wait (no overflow limit): an event loop's reads run one
    after another and reuse one connection, and nothing a route holds is needed. WAL
    readers never wait for writers. Each read is a read-only transaction of its own:
    it sees every commit made before it.
    """

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.engine = make_engine(
            url, poolclass=QueuePool, pool_size=1, max_overflow=-1, **engine_kwargs
        )
        self.sessions: sessionmaker[Session] = sessionmaker(
            self.engine.execution_options(**read_only_options(self.engine.dialect.name)),
            info={READ_ONLY: True},
            class_=TenantSession,
        )
        install_scoping(self.sessions)
        install_read_only(self.sessions)
        event.listen(self.sessions, "after_begin", _arm)
        raw_selects_last(self.sessions)
        self._slow = SlowKeys()

    def read(self, check: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``check(session, *args, **kwargs)`` in a read-only transaction ended at once."""
        with self.sessions() as session:
            return check(session, *args, **kwargs)

    def first(
        self, statement: Select[*tuple[Any, ...]], params: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """The first row of ``statement``, a select of control tables, on a bare connection.

        For the membership check every request makes: compiled once, run on a pooled
        sqlite3 connection as a lone ``SELECT`` (its own read transaction), with the
        columns' own bind and result conversions. ~10 µs, against ~150 µs through an ORM
        session. No scoping hook sees it, nor any cursor event listener but a statement
        log's, which it tells how long it took: use it only for tables that are not
        tenant-scoped.
        """
        compiled = compiled_select(statement, self.engine.dialect)
        if compiled is None:
            raise TypeError("InlineReads.first takes a select of columns of one fixed text")
        logs = statement_logs(self.engine.dispatch) or ()
        dbapi_error = self.engine.dialect.loaded_dbapi.Error
        try:
            raw = self.engine.raw_connection()
        except dbapi_error as failure:  # unwrapped here: wrap it as a Connection would
            raise exc.DBAPIError.instance(None, None, failure, dbapi_error) from failure
        try:
            started = time.perf_counter()
            row = compiled.first(raw.cursor(), params)
            for log in logs:
                log.timed(compiled.sql, time.perf_counter() - started)
            return row
        finally:
            raw.close()

    def read_within(
        self,
        steps: int,
        key: Hashable,
        read: Callable[..., T],
        *args: Any,
        route: Callable[[Session], None] | None = None,
    ) -> T:
        """``read(session, *args)`` if its SQL ends within ``steps``; else :class:`NotInline`
        (also raised for a read that has an audit event to write).

        For a route's own reads, whose cost depends on the tenant's data. SQLite's progress
        handler interrupts a statement once the read has run ``steps`` virtual machine
        steps (~40-90k a millisecond here; a page of 50 readings takes ~5k), and the caller
        runs the read again in a thread. Steps, not time: a busy server must not push its
        ordinary reads to threads. A ``key`` (the read and its tenant) that ran out goes
        straight to a thread for :data:`SLOW_WORK_MEMORY` seconds, so a heavy tenant
        does not hold the loop again on every request. ``route(session)`` binds the
        session's tenant tables first (a tenant's own SQLite file, with placements): every
        connection the read begins counts its steps.
        """
        if key in self._slow:
            raise NotInline
        budget = StepBudget(steps)
        with self.sessions() as session:
            armed: list[Any] = []
            session.info[_ARMED] = (budget, armed)  # each connection begun: _arm
            try:
                if route is not None:
                    route(session)
                result = read(session, *args)
                if not has_deferred_writes(session):
                    return result
                # An audited read (tenantry.read_only.defer_write): its event is written
                # after the read commits, in a thread with the request's session.
            except exc.OperationalError:
                if not budget.spent:
                    raise
            finally:
                for sqlite in armed:
                    sqlite.set_progress_handler(None, 0)
        self._slow.add(key)
        raise NotInline

    def factories(self) -> list[tuple[SessionFactory, bool]]:
        """Its session factory, for the host's session setups (it never writes)."""
        return [(self.sessions, False)]

    def dispose(self) -> None:
        self.engine.dispose()


def has_async_driver() -> bool:
    """Whether the ``async`` extra is installed: greenlet runs SQLAlchemy's async engines."""
    return importlib.util.find_spec("greenlet") is not None


# Pool settings of the shared engine: InlineReads' engine has its own.
_POOL_KWARGS = frozenset({"poolclass", "pool_size", "max_overflow", "pool_timeout", "pool_recycle"})


class Database:
    """One engine and its scoped session factory; created by the host, passed in."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self._engine_kwargs = engine_kwargs
        self._aio: AsyncSessions | None = None
        self._inline: InlineReads | None = None
        self._inline_writes: InlineWrites | None = None
        self._setups: list[SessionSetup] = []
        self._engine_setups: list[Callable[[Engine], None]] = []
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions: sessionmaker[Session] = sessionmaker(
            self.engine, expire_on_commit=False, class_=TenantSession
        )
        # Safe requests and long reads (exports, CSV streams): never write; on SQLite a
        # deferred BEGIN that takes no lock (tenantry.read_only).
        self.read_sessions: sessionmaker[Session] = sessionmaker(
            self.engine.execution_options(**read_only_options(self.engine.dialect.name)),
            expire_on_commit=False,
            info={READ_ONLY: True},
            class_=TenantSession,
        )
        install_core_hooks(
            self.sessions,
            self.read_sessions,
            writer=self.sessions,
            postgresql=self.engine.dialect.name == "postgresql",
        )
        self._raw_selects_last()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def setup_sessions(self, setup: SessionSetup) -> None:
        """Run ``setup(factory, writes)`` on every session factory of this database.

        The sync factories now; the async ones (:attr:`aio`) and the inline reads'
        now or when they are made. A host's hooks (quotas, metering, mail) go here, so
        no kind of session, an async app's included, goes without them.
        """
        self._setups.append(setup)
        for factory, writes in self._factories():
            setup(factory, writes)
        self._raw_selects_last()

    def setup_engines(self, setup: Callable[[Engine], None]) -> None:
        """Run ``setup(engine)`` on each engine of this database: the sync one now, the
        inline reads' and the async driver's now or when they are made (a statement log)."""
        self._engine_setups.append(setup)
        for engine in self._engines():
            setup(engine)

    def _engines(self) -> Iterator[Engine]:
        yield self.engine
        for inline in (self._inline, self._inline_writes):
            if inline is not None:
                yield inline.engine
        if self._aio is not None:
            yield self._aio.engine.sync_engine

    def _set_up_engine(self, engine: Engine) -> None:
        for setup in self._engine_setups:
            setup(engine)

    def _factories(self) -> Iterator[tuple[SessionFactory, bool]]:
        yield self.sessions, True
        yield self.read_sessions, False
        for made in (self._aio, self._inline, self._inline_writes):
            if made is not None:
                yield from made.factories()

    def _raw_selects_last(self) -> None:
        """Selects of the loop's sessions (inline SQLite reads, the async driver's) and of
        SQLite's write sessions run raw once every hook, the host's included, has seen them
        (:mod:`tenantry.raw`). A write's own checks on SQLite (meterbook's
        neighbouring readings before a POST) cost ~4 % of the request's CPU more through
        SQLAlchemy's execution. A select with changes still to flush runs through SQLAlchemy, which
        flushes them first (its autoflush comes after the hooks)."""
        for made in (self._inline, self._inline_writes, self._aio):
            if made is not None:
                raw_selects_last(*(factory for factory, _writes in made.factories()))
        if self.is_sqlite:
            raw_selects_last(self.sessions)

    def _set_up(self, *factories: tuple[SessionFactory, bool]) -> None:
        for setup in self._setups:
            for factory, writes in factories:
                setup(factory, writes)

    @property
    def aio(self) -> AsyncSessions:
        """``AsyncSession`` factories on the same database, made on first use (async apps)."""
        if self._aio is None:
            from tenantry.async_db import AsyncSessions

            aio = AsyncSessions(self.url, **self._engine_kwargs)
            self._set_up_engine(aio.engine.sync_engine)
            self._set_up(*aio.factories())
            self._aio = aio
            self._raw_selects_last()
        return self._aio

    def inline_reads(self) -> InlineReads | None:
        """:class:`InlineReads` on this database if it is an SQLite file, else ``None``.

        PostgreSQL reads are network round trips, and an in-memory SQLite database
        is private to its connection: both stay in worker threads.
        """
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        if url.query.get("mode") == "memory" or "creator" in self._engine_kwargs:
            return None
        if self._inline is None:
            kwargs = {k: v for k, v in self._engine_kwargs.items() if k not in _POOL_KWARGS}
            inline = InlineReads(self.url, **kwargs)
            self._set_up_engine(inline.engine)
            self._set_up(*inline.factories())
            self._inline = inline
            self._raw_selects_last()
        return self._inline

    def inline_writes(self) -> InlineWrites | None:
        """:class:`~tenantry.inline_writes.InlineWrites` on this database when its reads
        run inline (:meth:`inline_reads`) and its commits never sync to disk; else ``None``."""
        if self._inline_writes is None and self.inline_reads() is not None:
            from tenantry.inline_writes import InlineWrites, inline_safe

            turns = writer_turns_of(self.engine)
            kwargs = {k: v for k, v in self._engine_kwargs.items() if k not in _POOL_KWARGS}
            if turns is None or not inline_safe(kwargs.get("sqlite_pragmas") or {}):
                return None
            inline = InlineWrites(self.url, turns, **kwargs)
            self._set_up_engine(inline.engine)
            self._set_up(*inline.factories())
            self._inline_writes = inline
            self._raw_selects_last()
        return self._inline_writes

    def _dispose_inline(self) -> None:
        for inline in (self._inline, self._inline_writes):
            if inline is not None:
                inline.dispose()

    def dispose(self) -> None:
        """Close every pooled connection (from async code, await :meth:`dispose_async`)."""
        self.engine.dispose()
        self._dispose_inline()
        if self._aio is not None:
            aio, self._aio = self._aio, None
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                asyncio.run(aio.dispose())
            else:  # called from sync code that a running loop calls: a loop of its own
                worker = threading.Thread(target=asyncio.run, args=(aio.dispose(),))
                worker.start()
                worker.join()

    async def dispose_async(self) -> None:
        self.engine.dispose()
        self._dispose_inline()
        if self._aio is not None:
            aio, self._aio = self._aio, None
            await aio.dispose()
