"""Statements run raw: the rows SQLAlchemy gives and stores, behind the same walls.

:class:`~tenantry.db.InlineReads` (SQLite files) and the async driver's sessions
(asyncpg, aiosqlite) run a select of columns on the DBAPI cursor once every other hook
has seen it. Each test reads the same statement through an ordinary read session too,
and checks which path ran (``tenantry.raw._raw_selects``). The core's own statements
(``first_row``, ``insert_rows``) are compared with SQLAlchemy's execution on every driver.
"""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Select, bindparam, event, exc, func, insert, literal, or_, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import ORMExecuteState, Session, aliased

import tenantry.raw
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database, InlineReads, NotInline
from tenantry.errors import NoTenantContext
from tenantry.models import AuditEvent, Tenant
from tenantry.raw import RawInsert, first_row, insert_rows
from tenantry.scoping import _scoped
from tenantry.statements import StatementLog
from tenantry_server.settings import Settings
from tests.conftest import only_sqlite
from tests.notes_app import AppComment as Comment
from tests.notes_app import AppNote as Note
from tests.support.two_tenants import CTX_A, CTX_B, A, B, add_two_tenants


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    add_two_tenants(database)
    for ctx, bodies in ((CTX_A, ["a-1", "a-2", "a-3"]), (CTX_B, ["b-1"])):
        with tenant_scope(ctx), database.session() as s:
            for body in bodies:
                note = Note(body=body)
                s.add(note)
                s.flush()
                s.add(Comment(note_id=note.id, text=f"on {body}"))
    yield database
    database.dispose()


def _reads(db: Database) -> InlineReads:
    reads = db.inline_reads()
    assert reads is not None
    return reads


def _both(
    db: Database, ctx: TenantContext, statement: Any, params: dict[str, Any] | None = None
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[str]]:
    """The rows of ``statement`` inline and through an ordinary read session, and the keys
    of the inline result."""

    def run(session: Session) -> tuple[list[tuple[Any, ...]], list[str]]:
        result = session.execute(statement, params)
        return [tuple(row) for row in result], list(result.keys())

    with tenant_scope(ctx):
        first, _first_keys = _reads(db).read(run)  # its first run: SQLAlchemy's own
        inline, keys = _reads(db).read(run)  # run again: raw
        assert inline == first
        with db.read_sessions() as session:
            ordinary, ordinary_keys = run(session)
    assert keys == ordinary_keys
    return inline, ordinary, keys


def _ran_raw(statement: Any) -> bool:
    """Whether the statement (its scoped copy, if scoping made one) was compiled raw."""
    raw = tenantry.raw._raw_selects
    return any(
        isinstance(compiled, tenantry.raw.RawSelect)
        for s in (_scoped(statement), statement)
        for compiled in raw.get(s, {}).values()
    )


def _previous_body() -> Any:
    """A correlated lookup on an alias of the same scoped table (as meterbook's page)."""
    prev = aliased(Note)
    return (
        select(prev.body)
        .where(or_(prev.id < Note.id))
        .order_by(prev.id.desc())
        .limit(1)
        .correlate(Note)
        .scalar_subquery()
    )


STATEMENTS: dict[str, Callable[[], Select[Any]]] = {
    "columns": lambda: select(Note.id, Note.body, Note.tenant_id).order_by(Note.id),
    "count": lambda: select(func.count(Note.id)),
    "constant": lambda: select(Note.body, literal(7).label("seven")).order_by(Note.body),
    "correlated alias": lambda: select(Note.body, _previous_body().label("before")).order_by(
        Note.id
    ),
    "join": lambda: select(Note.body, Comment.text).join(Comment.note).order_by(Comment.id),
    "paged": lambda: select(Note.body).order_by(Note.id).limit(bindparam("n")),
}


@only_sqlite
@pytest.mark.parametrize("name", list(STATEMENTS))
def test_a_select_of_columns_runs_raw_and_gives_the_rows_sqlalchemy_gives(
    db: Database, name: str
) -> None:
    statement = STATEMENTS[name]()
    params = {"n": 2} if name == "paged" else None
    inline, ordinary, _keys = _both(db, CTX_A, statement, params)
    assert inline == ordinary and inline
    assert _ran_raw(statement)
    # Types as the ORM converts them: the tenant a UUID (stored as text), ints as ints.
    if name == "columns":
        assert all(isinstance(row[2], uuid.UUID) and row[2] == A for row in inline)


@only_sqlite
@pytest.mark.parametrize("name", list(STATEMENTS))
def test_a_raw_select_from_another_tenant_sees_only_its_own_rows(db: Database, name: str) -> None:
    statement = STATEMENTS[name]()
    params = {"n": 5} if name == "paged" else None
    inline, ordinary, _keys = _both(db, CTX_B, statement, params)
    assert inline == ordinary
    assert not any(isinstance(value, str) and "a-" in value for row in inline for value in row)
    assert _ran_raw(statement)


@only_sqlite
def test_a_raw_select_reads_the_tenant_of_each_read_not_of_its_first(db: Database) -> None:
    """Compiled once for every tenant: the tenant is a parameter, bound at each read."""
    statement = select(Note.body).order_by(Note.body)
    reads = _reads(db)
    for ctx, bodies in ((CTX_A, ["a-1", "a-2", "a-3"]), (CTX_B, ["b-1"]), (CTX_A, ["a-1"] * 0)):
        with tenant_scope(ctx):
            seen = reads.read(lambda s: list(s.scalars(statement)))
        assert seen == (bodies or ["a-1", "a-2", "a-3"])


@only_sqlite
def test_without_a_tenant_a_raw_select_fails_closed(db: Database) -> None:
    with pytest.raises(NoTenantContext):
        _reads(db).read(lambda s: s.execute(select(Note.body)).all())


@only_sqlite
def test_what_does_not_compile_once_runs_as_before(db: Database) -> None:
    """Entities, IN lists and unions go through SQLAlchemy's own execution, scoped."""
    with tenant_scope(CTX_A), db.read_sessions() as session:
        ids = list(session.scalars(select(Note.id).order_by(Note.id)))
    shapes: list[tuple[Any, Callable[[Session], Any]]] = []
    entity = select(Note).order_by(Note.id)
    shapes.append((entity, lambda s: [n.body for n in s.scalars(entity)]))
    listed = select(Note.body).where(Note.id.in_(ids[:2])).order_by(Note.id)
    shapes.append((listed, lambda s: list(s.scalars(listed))))
    for statement, run in shapes:
        for ctx in (CTX_A, CTX_B):
            with tenant_scope(ctx):
                inline = _reads(db).read(run)
                with db.read_sessions() as session:
                    assert inline == run(session)
            assert all(body.startswith("a-" if ctx is CTX_A else "b-") for body in inline)
        assert not _ran_raw(statement)
    with tenant_scope(CTX_B):  # A's ids, asked from B: nothing
        assert _reads(db).read(lambda s: list(s.scalars(listed))) == []


@only_sqlite
def test_a_missing_parameter_is_sqlalchemys_own_error(db: Database) -> None:
    statement = select(Note.body).where(Note.body == bindparam("wanted"))
    with tenant_scope(CTX_A), pytest.raises(exc.StatementError, match="wanted"):
        _reads(db).read(lambda s: s.execute(statement).all())
    with tenant_scope(CTX_A):
        assert _reads(db).read(lambda s: list(s.scalars(statement, {"wanted": "a-2"}))) == ["a-2"]


@only_sqlite
def test_a_failing_raw_select_raises_sqlalchemys_error_without_its_parameters(
    db: Database,
) -> None:
    statement = select(func.abs(Note.body)).where(Note.body == bindparam("secret"))
    broken = select(func.no_such_function(Note.body)).where(Note.body == bindparam("secret"))
    with tenant_scope(CTX_A):
        assert _reads(db).read(lambda s: s.execute(statement, {"secret": "x"}).all()) == []
        with pytest.raises(exc.OperationalError, match="no such function") as raised:
            _reads(db).read(lambda s: s.execute(broken, {"secret": "tenant data"}).all())
    assert "tenant data" not in str(raised.value)


@only_sqlite
def test_a_hook_added_later_still_sees_every_select(db: Database) -> None:
    """A host's hook, whether added through setup_sessions (the raw execution moves
    behind it) or straight on the factory (the raw execution then steps aside)."""
    reads = _reads(db)
    seen: list[str] = []

    def host_hook(state: ORMExecuteState) -> None:
        seen.append("setup")

    def late_hook(state: ORMExecuteState) -> None:
        seen.append("late")

    db.setup_sessions(lambda factory, writes: event.listen(factory, "do_orm_execute", host_hook))
    statement = select(Note.body).order_by(Note.body)
    with tenant_scope(CTX_A):
        for _ in range(2):
            assert reads.read(lambda s: list(s.scalars(statement)))[0] == "a-1"
    assert seen == ["setup", "setup"] and _ran_raw(statement)
    event.listen(reads.sessions, "do_orm_execute", late_hook)
    other = select(Note.id, Note.body).order_by(Note.body)
    with tenant_scope(CTX_A):
        for _ in range(2):
            rows = reads.read(lambda s: s.execute(other).all())
            assert rows[0][1] == "a-1"
    assert seen == ["setup", "setup", *["setup", "late"] * 2] and not _ran_raw(other)


def test_factories_made_and_dropped_one_after_another_each_get_the_raw_path() -> None:
    """SQLAlchemy keys its listeners by ``id()`` of the factory, and a new factory often
    reuses a collected one's id: it must not look as if it had the raw hook already
    (removing it raised ``ValueError``, once per few factories, as in this loop)."""
    from sqlalchemy.orm import sessionmaker

    from tenantry.scoping import TenantSession

    def other(state: ORMExecuteState) -> None:
        pass

    for _ in range(200):
        factory = sessionmaker(class_=TenantSession)
        event.listen(factory, "do_orm_execute", other)
        tenantry.raw.raw_selects_last(factory)
        tenantry.raw.raw_selects_last(factory)  # again: it moves, once
        hooks = list(factory().dispatch.do_orm_execute)
        assert hooks == [other, tenantry.raw._raw_select]
        del factory, hooks
        # The young generations hold the factory: a full collection walks the whole heap,
        # 200 of them took over 300 s in a worker late in the suite.
        gc.collect(1)


@only_sqlite
def test_a_raw_select_past_its_steps_is_interrupted_and_sent_to_a_thread(db: Database) -> None:
    numbers = select(literal(1).label("i")).cte("numbers", recursive=True)
    numbers = numbers.union_all(select(numbers.c.i + 1).where(numbers.c.i < 200_000))
    heavy = select(func.count()).select_from(numbers)
    reads = _reads(db)
    assert reads.read_within(10_000_000, ("heavy", A), lambda s: s.scalar(heavy)) == 200_000
    assert reads.read_within(10_000_000, ("heavy", B), lambda s: s.scalar(heavy)) == 200_000
    assert _ran_raw(heavy)  # the second run was raw
    with pytest.raises(NotInline):
        reads.read_within(100_000, ("heavy", CTX_B), lambda s: s.scalar(heavy))


@only_sqlite
def test_a_statement_built_for_each_call_runs_through_sqlalchemy(db: Database) -> None:
    """SQLAlchemy's cache compiles a new statement object faster than a fresh compile."""
    built = [select(Note.body).where(Note.body == f"a-{n}") for n in (1, 2, 3)]
    with tenant_scope(CTX_A):
        assert [_reads(db).read(lambda s, q=q: s.scalar(q)) for q in built] == ["a-1", "a-2", "a-3"]
    assert not any(_ran_raw(q) for q in built)


def _async_rows(
    db: Database, ctx: TenantContext | None, statement: Any, params: dict[str, Any] | None
) -> list[tuple[Any, ...]]:
    """``statement`` read twice in an async read session of ``ctx`` (the second raw)."""

    def run(session: Session) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in session.execute(statement, params)]

    async def read() -> list[tuple[Any, ...]]:
        async with db.aio.session_for(ctx, read_only=True) as aio:
            first = await aio.run_sync(run)
            again = await aio.run_sync(run)
        assert again == first
        return again

    try:
        return asyncio.run(read())
    finally:
        asyncio.run(db.aio.dispose())  # its connections belong to that loop


@pytest.mark.parametrize("name", list(STATEMENTS))
def test_the_async_drivers_raw_selects_give_each_tenant_its_own_rows(
    db: Database, name: str
) -> None:
    """On PostgreSQL (asyncpg, under RLS too) and on SQLite (aiosqlite)."""
    statement = STATEMENTS[name]()
    params = {"n": 5} if name == "paged" else None
    for ctx, others in ((CTX_A, "b-"), (CTX_B, "a-")):
        inline = _async_rows(db, ctx, statement, params)
        with tenant_scope(ctx), db.read_sessions() as session:
            assert inline == [tuple(row) for row in session.execute(statement, params)]
        assert inline
        strings = [value for row in inline for value in row if isinstance(value, str)]
        assert not any(others in value for value in strings)
    assert _ran_raw(statement)


def test_without_a_tenant_an_async_raw_select_fails_closed(db: Database) -> None:
    statement = select(Note.body)
    assert _async_rows(db, CTX_A, statement, None)  # compiled raw by now
    with pytest.raises(NoTenantContext):
        _async_rows(db, None, statement, None)


def test_a_text_rendered_at_execution_is_never_compiled_once() -> None:
    """The compiled form's own check, behind the statement walk: an IN list or a literal
    value rendered at execution, wherever it sits (a host's loader criterion too)."""
    listed = select(Note.body).where(Note.id.in_([1, 2]))
    assert not tenantry.raw.RawSelect(listed, sqlite.dialect()).fixed
    plain = select(Note.body).where(Note.id == bindparam("id"))
    assert tenantry.raw.RawSelect(plain, sqlite.dialect()).fixed


@only_sqlite
def test_an_engine_that_logs_its_statements_logs_every_select(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """``echo`` (or the sqlalchemy.engine logger at INFO): debugging sees every select."""
    statement = select(Note.body).order_by(Note.body)
    reads = _reads(db)
    with tenant_scope(CTX_A):
        for _ in range(2):
            reads.read(lambda s: list(s.scalars(statement)))
    assert _ran_raw(statement)
    with caplog.at_level("INFO", logger="sqlalchemy.engine"), tenant_scope(CTX_A):
        assert reads.read(lambda s: list(s.scalars(statement))) == ["a-1", "a-2", "a-3"]
    assert any("FROM app_notes" in record.getMessage() for record in caplog.records)


def _logged(log: StatementLog, table: str) -> int:
    """Calls the log holds of statements reading ``table``."""
    return sum(s.calls for s in log.slowest(log.capacity) if f"FROM {table}" in s.sql)


@only_sqlite
def test_a_statement_log_times_the_inline_raw_selects_and_they_stay_raw(db: Database) -> None:
    """The console's slowest statements and the statement metric see the loop's reads: the
    first run through SQLAlchemy's cursor events, the later ones timed by the raw path."""
    log = StatementLog()
    db.setup_engines(log.watch)
    statement = select(Note.body).order_by(Note.body)
    reads = _reads(db)
    with tenant_scope(CTX_A):
        for _ in range(3):
            assert reads.read(lambda s: list(s.scalars(statement))) == ["a-1", "a-2", "a-3"]
    assert _ran_raw(statement)
    assert _logged(log, "app_notes") == 3
    assert all(s.max_seconds > 0 for s in log.slowest())


def test_a_statement_log_times_the_async_drivers_raw_selects(db: Database) -> None:
    """Watched before the async engine exists: it is watched when made."""
    log = StatementLog()
    db.setup_engines(log.watch)
    statement = select(Note.body).order_by(Note.body)
    _async_rows(db, CTX_A, statement, None)
    _async_rows(db, CTX_A, statement, None)
    assert _ran_raw(statement)
    assert _logged(log, "app_notes") == 4


@only_sqlite
def test_another_cursor_listener_beside_a_statement_log_still_sees_every_select(
    db: Database,
) -> None:
    log = StatementLog()
    db.setup_engines(log.watch)
    reads = _reads(db)
    seen: list[str] = []
    event.listen(reads.engine, "after_cursor_execute", lambda *a: seen.append(a[2]))
    statement = select(Note.body).order_by(Note.body)
    with tenant_scope(CTX_A):
        for _ in range(3):
            reads.read(lambda s: list(s.scalars(statement)))
    assert len([sql for sql in seen if "FROM app_notes" in sql]) == 3
    assert _logged(log, "app_notes") == 3


@only_sqlite
def test_a_write_sessions_select_runs_raw_and_sees_its_own_unflushed_row(db: Database) -> None:
    """SQLite's write sessions (a POST's checks, in a worker thread) take the raw path too;
    the autoflush comes first, so the check sees what the unit of work added."""
    statement = select(Note.body).order_by(Note.body)
    with tenant_scope(CTX_B):
        with db.session() as session:
            assert list(session.scalars(statement)) == ["b-1"]  # first sight: SQLAlchemy
            session.add(Note(body="b-2"))  # pending: the next execute flushes it
            assert list(session.scalars(statement)) == ["b-1", "b-2"]
            session.rollback()
        with db.session() as session:
            assert list(session.scalars(statement)) == ["b-1"]
    assert _ran_raw(statement)
    with tenant_scope(CTX_A), db.session() as session:  # compiled once, each its tenant
        assert list(session.scalars(statement)) == ["a-1", "a-2", "a-3"]


def test_an_async_write_sessions_select_sees_what_it_added(db: Database) -> None:
    """The async driver's write sessions (``Writes`` and ``AsyncDbSession`` on PostgreSQL)
    took the raw path with a pending row unflushed: a select after ``session.add`` missed
    it, where SQLAlchemy autoflushes first. It steps aside then, and flushes."""
    statement = select(Note.body).order_by(Note.body)

    def add_and_read(session: Session) -> list[str]:
        before = list(session.scalars(statement))  # raw from its second run
        session.add(Note(body="b-2"))
        return [*before, "|", *session.scalars(statement)]

    async def work() -> list[list[str]]:
        seen = []
        for _ in range(2):
            async with db.aio.session_for(CTX_B, read_only=False) as aio:
                with tenant_scope(CTX_B):
                    seen.append(await aio.run_sync(add_and_read))
                    await aio.rollback()
        return seen

    try:
        first, second = asyncio.run(work())
    finally:
        asyncio.run(db.aio.dispose())
    assert first == second == ["b-1", "|", "b-1", "b-2"]
    assert _ran_raw(statement)


# A control-table statement built once, as the core's membership check is.
_TENANT_BY_SLUG = select(Tenant.id, Tenant.slug, Tenant.created_at).where(
    Tenant.slug == bindparam("slug")
)


def test_first_row_gives_what_sqlalchemy_gives_raw_where_the_dialect_allows(
    db: Database,
) -> None:
    """Through the sync driver (SQLite's qmark runs raw, psycopg's named parameters go
    through SQLAlchemy) and the async one (asyncpg and aiosqlite, both raw)."""

    def rows(session: Session) -> list[Any]:
        connection = session.connection()
        return [first_row(connection, _TENANT_BY_SLUG, {"slug": slug}) for slug in "ab?"]

    def expected(session: Session) -> list[Any]:
        connection = session.connection()
        return [connection.execute(_TENANT_BY_SLUG, {"slug": slug}).first() for slug in "ab?"]

    with db.read_sessions() as session:
        want = [None if row is None else tuple(row) for row in expected(session)]
        got = rows(session)
    assert [None if row is None else tuple(row) for row in got] == want
    assert want[0] is not None and want[0][0] == A and want[2] is None
    dialect = db.engine.dialect
    assert isinstance(
        tenantry.raw._core_forms[_TENANT_BY_SLUG][(dialect.name, dialect.driver)],
        tenantry.raw.RawSelect if dialect.positional else type(None),
    )

    async def read() -> list[Any]:
        async with db.aio.session_for(None, read_only=True) as aio:
            return await aio.run_sync(rows)

    try:
        got = asyncio.run(read())
    finally:
        asyncio.run(db.aio.dispose())
    assert [None if row is None else tuple(row) for row in got] == want
    aio_dialect = db.aio.engine.dialect
    kind = (aio_dialect.name, aio_dialect.driver)
    assert isinstance(tenantry.raw._core_forms[_TENANT_BY_SLUG][kind], tenantry.raw.RawSelect)


def _audit_row(n: int) -> dict[str, Any]:
    return {
        "tenant_id": A,
        "actor_id": None,
        "action": "raw.test",
        "target": f"row:{n}",
        "details": {"fields": ["body"], "values": {"body": f"é {n}"}},
        "created_at": datetime(2026, 12, 5, 10, n, tzinfo=UTC),
    }


def test_insert_rows_stores_what_sqlalchemy_stores_one_row_raw(db: Database) -> None:
    """One row raw where the dialect allows (SQLite's and asyncpg's), several rows and
    psycopg's named parameters through SQLAlchemy: every row reads back the same."""
    statement = insert(AuditEvent)

    def write(session: Session, first: int) -> None:
        connection = session.connection()
        insert_rows(connection, statement, [_audit_row(first)])
        insert_rows(connection, statement, [_audit_row(first + 1), _audit_row(first + 2)])

    with db.sessions() as session:
        write(session, 0)
        session.commit()

    async def write_async() -> None:
        async with db.aio.session_for(None, read_only=False) as aio:
            await aio.run_sync(write, 10)

    try:
        asyncio.run(write_async())
    finally:
        asyncio.run(db.aio.dispose())
    with db.read_sessions() as session:
        stored = session.execute(
            select(
                AuditEvent.target, AuditEvent.details, AuditEvent.created_at, AuditEvent.tenant_id
            )
            .where(AuditEvent.action == "raw.test")
            .order_by(AuditEvent.id)
        ).all()
    written = [_audit_row(n) for n in (0, 1, 2, 10, 11, 12)]
    assert [tuple(row) for row in stored] == [
        (r["target"], r["details"], r["created_at"], A) for r in written
    ]
    keys = tuple(_audit_row(0))
    for dialect in (db.engine.dialect, db.aio.engine.dialect):
        raw = tenantry.raw._core_forms[statement][(dialect.name, dialect.driver, keys)]
        assert isinstance(raw, tenantry.raw.RawInsert if dialect.positional else type(None))


def test_an_insert_with_work_at_execution_is_never_compiled_raw() -> None:
    # A column default left to compute (created_at), or a RETURNING to read.
    keys = tuple(_audit_row(0))
    assert RawInsert.compile(insert(AuditEvent), keys, sqlite.dialect()) is not None
    assert RawInsert.compile(insert(AuditEvent), keys[:-1], sqlite.dialect()) is None
    returning = insert(AuditEvent).returning(AuditEvent.id)
    assert RawInsert.compile(returning, keys, sqlite.dialect()) is None
