"""Statements run raw: compiled once, executed on the DBAPI cursor with their columns'
conversions, skipping SQLAlchemy's per-execution work where it adds nothing.

Three entries: :func:`_raw_select`, the last ``do_orm_execute`` hook of the sessions that
take it (tenant scoping has written its criterion into the statement by then);
:func:`first_row`, for the core's own selects of control tables; and :func:`insert_rows`,
for the core's own inserts (the audit trail's row of each write).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Insert, Result, Select, event, exc
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.types import TypeEngine

from tenantry.hooks import SessionFactory, events_of
from tenantry.statements import CursorTimer, StatementLog

T = TypeVar("T")

_GIVEN = object()  # a bound parameter whose value the caller gives


class RawSelect:
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
    execution options; :attr:`RawSelect.fixed` then says whether its text is fixed."""
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
        raw = compiled[kind] = _compiled(statement, dialect)
    if not isinstance(raw, RawSelect):
        return None
    values = raw.values(params or {})
    if values is None:
        return None  # SQLAlchemy says which value is missing
    connection = session.connection(bind_arguments=state.bind_arguments)
    rows = _run(connection, raw.sql, values)
    if rows is None:
        return None  # traced or echoed: SQLAlchemy runs it
    return IteratorResult(
        SimpleResultMetaData(raw.keys), map(raw.convert, rows) if raw.converts else iter(rows)
    )


def _run(
    connection: Connection, sql: str, values: list[Any], *, fetch: bool = True
) -> list[Any] | None:
    """The rows of ``sql`` as fetched (none unless ``fetch``), run on ``connection``'s
    DBAPI cursor; ``None`` where SQLAlchemy must run it instead: an engine whose
    statements are logged (``echo``) or listened to at each cursor execution (tracing), a
    statement log excepted, which is told how long the raw execution took. A failure is
    SQLAlchemy's error, without its parameters (tenant data)."""
    logs = statement_logs(connection.dispatch)
    if logs is None or connection._echo:
        return None
    cursor = connection.connection.cursor()
    try:
        started = time.perf_counter()
        cursor.execute(sql, values)
        rows = list(cursor.fetchall()) if fetch else []
        for log in logs:  # the statement logs time it as their cursor events would
            log.timed(sql, time.perf_counter() - started)
    except connection.dialect.loaded_dbapi.Error as error:
        raise exc.DBAPIError.instance(
            sql,
            values,
            error,
            connection.dialect.loaded_dbapi.Error,
            hide_parameters=True,
            dialect=connection.dialect,
        ) from error
    finally:
        cursor.close()
    return rows


# The core's own statements (first_row, insert_rows, InlineReads.first) -> per kind (the
# dialect's name and driver, and for an insert its row's keys): the compiled form, or None
# where it does not run raw. Weak keys: a statement built per call goes with its last use.
_core_forms: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Any]] = (
    weakref.WeakKeyDictionary()
)


def compiled_once(statement: Any, kind: tuple[Any, ...], build: Callable[[], T]) -> T:
    """``build()``, the compiled form of ``statement`` for ``kind``, made on first use."""
    forms = _core_forms.get(statement)
    if forms is None:
        forms = _core_forms[statement] = {}
    if kind not in forms:
        forms[kind] = build()
    return forms[kind]  # type: ignore[no-any-return]


def first_row(
    connection: Connection, statement: Select[*tuple[Any, ...]], params: Mapping[str, Any]
) -> Sequence[Any] | None:
    """The first row of ``statement`` on ``connection``, run raw where its dialect allows.

    For the core's own statements of control tables, built once (the membership check
    that begins each PostgreSQL request's transaction): no scoping hook sees them, and
    through the async driver the raw execution costs ~45 µs less than SQLAlchemy's.
    Elsewhere (a dialect of named parameters, a traced engine) SQLAlchemy runs it.
    """
    dialect = connection.dialect
    raw = compiled_select(statement, dialect)
    if raw is not None:
        values = raw.values(params)
        rows = None if values is None else _run(connection, raw.sql, values)
        if rows is not None:
            return raw.convert(rows[0]) if rows else None
    return connection.execute(statement, params).first()


def compiled_select(statement: Select[*tuple[Any, ...]], dialect: Dialect) -> RawSelect | None:
    """A core statement compiled for ``dialect`` once (see :func:`_compiled`)."""
    return compiled_once(
        statement, (dialect.name, dialect.driver), lambda: _compiled(statement, dialect)
    )


def _compiled(statement: Any, dialect: Dialect) -> RawSelect | None:
    """``statement`` compiled for ``dialect``, if it is a select of columns that compiles
    to one fixed text for a dialect of positional parameters (else ``None``)."""
    if not (dialect.positional and isinstance(statement, Select)):
        return None
    if not _selects_columns(statement):
        return None
    raw = RawSelect(statement, dialect)
    return raw if raw.fixed else None


def statement_logs(watched: Any) -> list[StatementLog] | None:
    """The statement logs listening on ``watched`` (an engine's or connection's events),
    which a raw execution tells how long it took; ``None`` if another listener is there."""
    logs: list[StatementLog] = []
    for listener in (*watched.before_cursor_execute, *watched.after_cursor_execute):
        if not isinstance(listener, CursorTimer):
            return None
        if not listener.before:
            logs.append(listener.log)
    return logs


class RawInsert:
    """An insert of one row with given keys, compiled once for a dialect of positional
    parameters: the values in the order its SQL takes them, each converted as its column
    binds it."""

    __slots__ = ("_binds", "sql")

    def __init__(self, sql: str, binds: list[tuple[str, Any]]) -> None:
        self.sql = sql
        self._binds = binds

    @classmethod
    def compile(
        cls, statement: Insert, keys: tuple[str, ...], dialect: Dialect
    ) -> RawInsert | None:
        """``statement`` for rows of ``keys``; ``None`` unless its SQL takes exactly those
        keys' values and nothing else is done at execution: no column default of the
        table's to compute, no ``RETURNING`` to read, no text rendered then."""
        if not dialect.positional:
            return None
        # Compiled as for several rows: for one, SQLAlchemy reads the new primary key back
        # (RETURNING on PostgreSQL), which nobody here asks for.
        compiled = statement.compile(dialect=dialect, column_keys=list(keys), for_executemany=True)
        names = compiled.positiontup or []
        if (
            sorted(names) != sorted(keys)
            or compiled.effective_returning
            or compiled.post_compile_params
            or compiled.literal_execute_params
            or compiled.insert_prefetch
            or compiled.postfetch
        ):
            return None
        binds = [
            (name, compiled.binds[name].type._cached_bind_processor(dialect)) for name in names
        ]
        return cls(str(compiled), binds)

    def values(self, row: Mapping[str, Any]) -> list[Any]:
        return [
            row[name] if convert is None else convert(row[name]) for name, convert in self._binds
        ]


def insert_rows(connection: Connection, statement: Insert, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` with ``statement``, a core insert built once (the audit trail's).

    A single row, the common case (one write, one audit row), runs raw where its dialect
    allows: ~90 µs less of a PostgreSQL POST's CPU than SQLAlchemy's execution. Several
    rows go through SQLAlchemy, which sends them in one statement; so does anything
    :meth:`RawInsert.compile` or :func:`_run` turns away.
    """
    if len(rows) == 1:
        (row,) = rows
        dialect, keys = connection.dialect, tuple(row)
        raw = compiled_once(
            statement,
            (dialect.name, dialect.driver, keys),
            lambda: RawInsert.compile(statement, keys, dialect),
        )
        if raw is not None and _run(connection, raw.sql, raw.values(row), fetch=False) is not None:
            return
    connection.execute(statement, rows)
