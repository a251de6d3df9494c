"""Engines and session factories for SQLite and PostgreSQL, with scoping installed."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    Result,
    Select,
    create_engine,
    event,
    exc,
)
from sqlalchemy.engine import make_url
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeEngine

from tenantry.hooks import SessionFactory, events_of
from tenantry.read_only import (
    READ_ONLY,
    has_deferred_writes,
    install_deferred_writes,
    install_read_only,
)
from tenantry.rls.session import install_rls_context
from tenantry.row_audit import install_row_audit
from tenantry.scoping import TenantSession, install_scoping
from tenantry.sqlite import SQLITE_PRAGMAS, configure_sqlite
from tenantry.statements import CursorTimer, StatementLog

if TYPE_CHECKING:
    from tenantry.async_db import AsyncSessions

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
    for factory in (write, read):
        install_scoping(factory)
        if postgresql:
            install_rls_context(factory)
    install_read_only(read)
    install_deferred_writes(read, writer)
    install_row_audit(write)


def make_engine(
    url: str, *, sqlite_pragmas: Mapping[str, str] | None = None, **kwargs: Any
) -> Engine:
    """Create an engine for ``url`` (``sqlite:///…`` or ``postgresql+psycopg://…``).

    ``sqlite_pragmas`` override or extend :data:`SQLITE_PRAGMAS` (maintenance tools).
    """
    parsed = make_url(url)
    kwargs = {**ENGINE_DEFAULTS, **kwargs}
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, **kwargs)
        configure_sqlite(engine, {**SQLITE_PRAGMAS, **(sqlite_pragmas or {})})
        return engine
    if "pool_pre_ping" in kwargs:
        return create_engine(url, **kwargs)
    engine = create_engine(url, **kwargs)
    ping_when_idle(engine)
    return engine


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
# session.info key: the step counter of a bounded read, and the connections it armed.
_ARMED = "tenantry.inline_steps"
# How long a read that ran out of time goes straight to a thread, and how many to remember.
SLOW_READ_MEMORY = 30.0
_SLOW_KEYS = 10_000


_GIVEN = object()  # a bound parameter whose value the caller gives


class _RawSelect:
    """A select compiled once for a dialect of positional parameters, run on a DBAPI
    cursor with its columns' bind and result conversions (UUIDs as text on SQLite).

    An ORM select compiles with its loader criteria (tenant scoping) written in. Only
    for what compiles to one fixed SQL text: :attr:`fixed` says whether it does.
    """

    __slots__ = ("_binds", "_results", "fixed", "keys", "sql")

    def __init__(self, statement: Select[*tuple[Any, ...]], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert compiled.positiontup is not None, "a dialect of positional parameters"
        self.sql = str(compiled)
        # Parameters rendered at execution (IN lists, literal values) or computed at each
        # one, wherever they hide (a loader criterion's too): the SQL or its values vary.
        self.fixed = not (
            compiled.post_compile_params
            or compiled.literal_execute_params
            or any(bind.callable is not None for bind in compiled.binds.values())
        )
        # A constant the statement holds (``name == 'x'``) is bound with its own value
        # unless the caller names it, as SQLAlchemy does.
        self._binds = [
            (
                name,
                compiled.binds[name].type._cached_bind_processor(dialect),
                _GIVEN if compiled.binds[name].required else compiled.binds[name].effective_value,
            )
            for name in compiled.positiontup
        ]
        # (position, conversion) of the columns that have one: often none at all.
        self._results = [
            (i, convert)
            for i, column in enumerate(statement.selected_columns)
            if (convert := column.type._cached_result_processor(dialect, None)) is not None
        ]
        self.keys = [d["name"] for d in statement.column_descriptions]

    @property
    def converts(self) -> bool:
        """Whether any column's values are converted (else rows are used as fetched)."""
        return bool(self._results)

    def values(self, params: Mapping[str, Any]) -> list[Any] | None:
        """The positional values for ``params``; ``None`` if a required one is missing."""
        values = []
        for name, convert, constant in self._binds:
            if name in params:
                value = params[name]
            elif constant is _GIVEN:
                return None
            else:
                value = constant
            values.append(value if convert is None else convert(value))
        return values

    def convert(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        if not self._results:
            return row
        out = list(row)
        for i, convert in self._results:
            if out[i] is not None:
                out[i] = convert(out[i])
        return tuple(out)

    def first(self, cursor: Any, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        values = self.values(params)
        if values is None:
            raise KeyError("a required parameter of the statement is missing")
        try:
            row = cursor.execute(self.sql, values).fetchone()
        finally:
            cursor.close()  # ends the statement, and with it the read transaction
        return None if row is None else self.convert(row)


# The factories (their event targets) :func:`_raw_select` listens on. Not
# ``event.contains``: SQLAlchemy's registry keys listeners by ``id()`` of the target, and a
# factory made after another was collected can reuse its id; it then "contains" a listener
# it never had, and removing it raised (a process that makes Databases one after another,
# as a host's test suite does).
_raw_select_targets: weakref.WeakSet[Any] = weakref.WeakSet()


def raw_selects_last(*factories: SessionFactory) -> None:
    """Make the raw execution of selects (:func:`_raw_select`) the last ``do_orm_execute``
    hook of ``factories``: it runs the statement every other hook leaves, and steps aside
    unless it is last. Called again after a host's hooks are added."""
    for factory in factories:
        target = events_of(factory)
        if target in _raw_select_targets:
            event.remove(target, "do_orm_execute", _raw_select)
        event.listen(target, "do_orm_execute", _raw_select)
        _raw_select_targets.add(target)


def _selects_columns(statement: Select[*tuple[Any, ...]]) -> bool:
    """Whether ``statement`` is a plain select of columns (no ORM entity to load) with no
    execution options; :attr:`_RawSelect.fixed` then says whether its text is fixed."""
    return not statement._execution_options and all(
        isinstance(d["type"], TypeEngine) for d in statement.column_descriptions
    )


# Scoped statement -> per dialect and driver: its compiled form, None where it does not
# compile once, or _SEEN after its first execution. Weak keys, as the scoping hook's own
# copies (tenantry.scoping).
_raw_selects: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], Any]] = (
    weakref.WeakKeyDictionary()
)
_SEEN, _UNSEEN = object(), object()


# The one execution option Session.execute sets on its own (a select given none).
_SET_BY_SESSION = frozenset({"_result_disable_adapt_to_context"})


def _raw_select(state: ORMExecuteState) -> Result[Any] | None:
    """Run a select of columns on its connection's DBAPI cursor.

    For the event loop's reads of an SQLite file (:class:`InlineReads`), the async
    driver's sessions and SQLite's write sessions (``Database._raw_selects_last``): the
    statement has been through every other hook (scoping has written the tenant
    criterion into it and set the tenant parameter, refusals have passed), and only the
    execution is done here: the compiled text is run with the columns' conversions, skipping
    SQLAlchemy's per-execution work (~10 % of the CPU of a GET of 50 readings). Only
    statements built once and run again (module constants, cached builders) take it,
    from their second execution: one built per call is compiled faster by SQLAlchemy's
    own cache. It steps aside, and SQLAlchemy executes as usual, for anything else:
    ORM entities, options, several parameter sets, a session with changes to autoflush,
    a hook registered after it (it must be the last), or an engine whose statements are
    logged (``echo``) or listened to at each cursor execution (tracing). A
    :class:`~tenantry.statements.StatementLog` is the exception: it is told how long
    the raw execution took.
    """
    if not state.is_select or not _SET_BY_SESSION.issuperset(state.local_execution_options):
        return None
    params = state.parameters
    if params is not None and not isinstance(params, Mapping):
        return None
    session = state.session
    if session.autoflush and not session._is_clean():
        # SQLAlchemy autoflushes *after* the do_orm_execute hooks: run raw, the select
        # would miss what the unit of work added, changed or deleted (a write session's
        # check after session.add). SQLAlchemy flushes, then executes.
        return None
    last = None
    for last in session.dispatch.do_orm_execute:  # noqa: B007
        pass
    if last is not _raw_select:
        return None
    statement = state.statement
    try:
        compiled = _raw_selects.get(statement)
    except TypeError:  # not weakly referenceable
        return None
    if compiled is None:
        compiled = _raw_selects[statement] = {}
    dialect = session.get_bind(**state.bind_arguments).dialect
    kind = (dialect.name, dialect.driver)
    raw = compiled.get(kind, _UNSEEN)
    if raw is _UNSEEN:
        # First sight: a statement built for this one call (SQLAlchemy's cache compiles
        # it faster than a fresh compile here). Built once and run again: compile it.
        compiled[kind] = _SEEN
        return None
    if raw is _SEEN:
        raw = None
        if dialect.positional and isinstance(statement, Select) and _selects_columns(statement):
            raw = _RawSelect(statement, dialect)
            if not raw.fixed:
                raw = None
        compiled[kind] = raw
    if not isinstance(raw, _RawSelect):
        return None
    values = raw.values(params or {})
    if values is None:
        return None  # SQLAlchemy says which value is missing
    connection = session.connection(bind_arguments=state.bind_arguments)
    logs = _statement_logs(connection.dispatch)
    if logs is None:
        return None  # someone traces each statement: SQLAlchemy runs it
    if connection._echo:
        return None  # its statements are logged: SQLAlchemy runs it
    cursor = connection.connection.cursor()
    try:
        started = time.perf_counter()
        cursor.execute(raw.sql, values)
        rows = cursor.fetchall()
        for log in logs:  # the statement logs time it as their cursor events would
            log.timed(raw.sql, time.perf_counter() - started)
    except connection.dialect.loaded_dbapi.Error as error:
        raise exc.DBAPIError.instance(
            raw.sql,
            values,
            error,
            connection.dialect.loaded_dbapi.Error,
            hide_parameters=True,
            dialect=connection.dialect,
        ) from error
    finally:
        cursor.close()
    return IteratorResult(
        SimpleResultMetaData(raw.keys), map(raw.convert, rows) if raw.converts else iter(rows)
    )


def _statement_logs(watched: Any) -> list[StatementLog] | None:
    """The statement logs listening on ``watched`` (an engine's or connection's events),
    which a raw execution tells how long it took; ``None`` if another listener is there."""
    logs: list[StatementLog] = []
    for listener in (*watched.before_cursor_execute, *watched.after_cursor_execute):
        if not isinstance(listener, CursorTimer):
            return None
        if not listener.before:
            logs.append(listener.log)
    return logs


def _arm(session: Session, _tx: Any, connection: Connection) -> None:
    """Count the steps of a bounded read (:meth:`InlineReads.read_within`) on each
    connection its session begins: the control database's and a tenant's own file."""
    armed = session.info.get(_ARMED)
    if armed is not None:
        sqlite = connection.connection.dbapi_connection
        sqlite.set_progress_handler(armed[0], _PROGRESS_STEPS)  # type: ignore[union-attr]
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
            self.engine.execution_options(**{READ_ONLY: True}),
            info={READ_ONLY: True},
            class_=TenantSession,
        )
        install_scoping(self.sessions)
        install_read_only(self.sessions)
        event.listen(self.sessions, "after_begin", _arm)
        raw_selects_last(self.sessions)
        self._slow: dict[Hashable, float] = {}
        self._compiled: dict[Select[*tuple[Any, ...]], _RawSelect] = {}

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
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = self._compiled[statement] = _RawSelect(statement, self.engine.dialect)
        logs = _statement_logs(self.engine.dispatch) or ()
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
        straight to a thread for :data:`SLOW_READ_MEMORY` seconds, so a heavy tenant
        does not hold the loop again on every request. ``route(session)`` binds the
        session's tenant tables first (a tenant's own SQLite file, with placements): every
        connection the read begins counts its steps.
        """
        now = time.monotonic()
        if self._slow.get(key, 0.0) > now:
            raise NotInline
        left = steps // _PROGRESS_STEPS

        def out_of_steps() -> bool:
            nonlocal left
            left -= 1
            return left < 0

        with self.sessions() as session:
            armed: list[Any] = []
            session.info[_ARMED] = (out_of_steps, armed)  # each connection begun: _arm
            try:
                if route is not None:
                    route(session)
                result = read(session, *args)
                if not has_deferred_writes(session):
                    return result
                # An audited read (tenantry.read_only.defer_write): its event is written
                # after the read commits, in a thread with the request's session.
            except exc.OperationalError:
                if left >= 0:
                    raise
            finally:
                for sqlite in armed:
                    sqlite.set_progress_handler(None, 0)
        if len(self._slow) >= _SLOW_KEYS:
            self._slow = {k: until for k, until in self._slow.items() if until > now}
        self._slow[key] = now + SLOW_READ_MEMORY
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
        self._setups: list[SessionSetup] = []
        self._engine_setups: list[Callable[[Engine], None]] = []
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions: sessionmaker[Session] = sessionmaker(
            self.engine, expire_on_commit=False, class_=TenantSession
        )
        # Safe requests and long reads (exports, CSV streams): never write; on SQLite a
        # deferred BEGIN that takes no lock (tenantry.read_only).
        self.read_sessions: sessionmaker[Session] = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}),
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
        if self._inline is not None:
            yield self._inline.engine
        if self._aio is not None:
            yield self._aio.engine.sync_engine

    def _set_up_engine(self, engine: Engine) -> None:
        for setup in self._engine_setups:
            setup(engine)

    def _factories(self) -> Iterator[tuple[SessionFactory, bool]]:
        yield self.sessions, True
        yield self.read_sessions, False
        for made in (self._aio, self._inline):
            if made is not None:
                yield from made.factories()

    def _raw_selects_last(self) -> None:
        """Selects of the loop's sessions (inline SQLite reads, the async driver's) and of
        SQLite's write sessions run raw once every hook, the host's included, has seen them
        (:func:`_raw_select`). A write's own checks on SQLite (meterbook's neighbouring
        readings before a POST) cost ~4 % of the request's CPU more through SQLAlchemy's
        execution. A select with changes still to flush runs through SQLAlchemy, which
        flushes them first (its autoflush comes after the hooks)."""
        for made in (self._inline, self._aio):
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

    def dispose(self) -> None:
        """Close every pooled connection (from async code, await :meth:`dispose_async`)."""
        self.engine.dispose()
        if self._inline is not None:
            self._inline.dispose()
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
        if self._inline is not None:
            self._inline.dispose()
        if self._aio is not None:
            aio, self._aio = self._aio, None
            await aio.dispose()
