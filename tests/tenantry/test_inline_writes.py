"""InlineWrites: a unit of work on the event loop only when it can neither wait nor run long.

Each test calls ``run_within`` as ``Writes.run`` does on the loop, with a second tenant
beside the first, and checks what was committed from an ordinary session.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import exc, func, select, text
from sqlalchemy.orm import Session

import tenantry.inline_writes
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database, NotInline
from tenantry.inline_writes import InlineWrites, inline_safe
from tenantry.models import AuditEvent
from tenantry_server.settings import Settings
from tests.conftest import only_sqlite
from tests.notes_app import AppNote as Note
from tests.support.two_tenants import CTX_A, CTX_B, A, B, add_two_tenants

# ~2M SQLite steps: 20 times the budget the tests give.
_HEAVY = text(
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 200000) "
    "SELECT count(*) FROM r"
)
STEPS = 100_000


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    add_two_tenants(database)
    with tenant_scope(CTX_B), database.session() as s:
        s.add(Note(body="b's own"))
    yield database
    database.dispose()


def _writes(db: Database) -> InlineWrites:
    writes = db.inline_writes()
    assert writes is not None
    return writes


def _bodies(db: Database, ctx: TenantContext) -> list[str]:
    with tenant_scope(ctx), db.read_sessions() as s:
        return sorted(s.scalars(select(Note.body)))


def _add(session: Session, body: str) -> int:
    note = Note(body=body)
    session.add(note)
    session.flush()
    return note.id


@only_sqlite
def test_the_work_runs_here_and_is_committed_in_its_tenant(db: Database) -> None:
    ran_on: list[int] = []

    def work(session: Session) -> tuple[int, int]:
        ran_on.append(threading.get_ident())
        seen = session.scalar(select(func.count(Note.id)))  # scoped: A's rows only
        return _add(session, "a's note"), int(seen or 0)

    with tenant_scope(CTX_A):
        note_id, seen = _writes(db).run_within(STEPS, "add", CTX_A, work)
    assert ran_on == [threading.get_ident()]
    assert seen == 0  # B's note is not A's to see
    assert _bodies(db, CTX_A) == ["a's note"]
    assert _bodies(db, CTX_B) == ["b's own"]
    with db.read_sessions() as s:  # the row audit saw the write, in A
        audited = s.scalars(select(AuditEvent).where(AuditEvent.tenant_id == A)).all()
    assert [(e.action, e.target) for e in audited] == [("row.created", f"app_notes:{note_id}")]


@only_sqlite
def test_a_writer_in_a_thread_sends_the_work_to_a_thread_at_once(db: Database) -> None:
    writes = _writes(db)
    called: list[str] = []
    other_inside = threading.Event()
    release = threading.Event()

    def other_writer() -> None:
        with tenant_scope(CTX_B), db.session() as s:
            s.add(Note(body="b, in a thread"))
            s.flush()  # BEGIN IMMEDIATE: this process's writer turn is taken
            other_inside.set()
            release.wait(10)

    worker = threading.Thread(target=other_writer)
    worker.start()
    assert other_inside.wait(10)
    try:
        with tenant_scope(CTX_A), pytest.raises(NotInline):
            writes.run_within(STEPS, "add", CTX_A, lambda s: called.append("ran"))
        assert called == []  # refused before the work began: nothing to run twice
    finally:
        release.set()
        worker.join()
    with tenant_scope(CTX_A):  # the turn is free again: inline, not remembered as slow
        writes.run_within(STEPS, "add", CTX_A, _add, "a, once it was free")
    assert _bodies(db, CTX_A) == ["a, once it was free"]
    assert _bodies(db, CTX_B) == ["b's own", "b, in a thread"]


@only_sqlite
def test_another_process_writing_sends_the_work_to_a_thread(db: Database) -> None:
    writes = _writes(db)
    other = sqlite3.connect(str(db.engine.url.database), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer holds the file's lock
    try:
        with tenant_scope(CTX_A), pytest.raises(NotInline):
            writes.run_within(STEPS, "add", CTX_A, _add, "not now")
    finally:
        other.execute("ROLLBACK")
        other.close()
    # The failed BEGIN gave the process's turn back: a thread's writer is not stuck.
    with tenant_scope(CTX_A), db.session() as s:
        s.add(Note(body="from a thread"))
    with tenant_scope(CTX_A):
        writes.run_within(STEPS, "add", CTX_A, _add, "inline")
    assert _bodies(db, CTX_A) == ["from a thread", "inline"]


@only_sqlite
def test_work_past_its_steps_is_rolled_back_and_sent_to_threads_for_a_while(
    db: Database,
) -> None:
    writes = _writes(db)
    runs: list[str] = []

    def heavy(session: Session, body: str) -> int:
        runs.append(body)
        note_id = _add(session, body)
        session.execute(_HEAVY)
        return note_id

    with tenant_scope(CTX_A):
        with pytest.raises(NotInline):
            writes.run_within(STEPS, ("heavy", A), CTX_A, heavy, "cut short")
        assert _bodies(db, CTX_A) == []  # its insert was rolled back with it
        with pytest.raises(NotInline):  # remembered: not tried on the loop again
            writes.run_within(STEPS, ("heavy", A), CTX_A, heavy, "not tried")
    assert runs == ["cut short"]
    with tenant_scope(CTX_B):  # another tenant's is tried, and with room enough completes
        writes.run_within(10_000_000, ("heavy", B), CTX_B, heavy, "b, heavy")
    assert _bodies(db, CTX_B) == ["b's own", "b, heavy"]
    with tenant_scope(CTX_A):  # the connection was handed back without the budget on it
        writes.run_within(10_000_000, "other", CTX_A, lambda s: s.execute(_HEAVY))


@only_sqlite
def test_work_that_swallows_its_interruption_is_still_sent_to_a_thread(db: Database) -> None:
    def swallowing(session: Session) -> str:
        _add(session, "half done")
        try:
            session.execute(_HEAVY)
        except exc.OperationalError:
            return "looks fine"
        return "finished"

    with tenant_scope(CTX_A), pytest.raises(NotInline):
        _writes(db).run_within(STEPS, "swallowing", CTX_A, swallowing)
    assert _bodies(db, CTX_A) == []


@only_sqlite
def test_an_error_of_the_work_is_raised_after_its_rollback(db: Database) -> None:
    def failing(session: Session) -> None:
        _add(session, "never kept")
        raise ValueError("the reading is lower than the last one")

    writes = _writes(db)
    with tenant_scope(CTX_A), pytest.raises(ValueError, match="lower"):
        writes.run_within(STEPS, "failing", CTX_A, failing)
    assert _bodies(db, CTX_A) == []
    with tenant_scope(CTX_A), db.session() as s:  # the turn was given back
        s.add(Note(body="after"))
    assert _bodies(db, CTX_A) == ["after"]


@only_sqlite
def test_the_loops_commits_are_checkpointed_in_a_thread(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = Path(str(db.engine.url.database))
    start = sqlite3.connect(path, isolation_level=None)
    start.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # start from an empty WAL
    start.close()
    monkeypatch.setattr(tenantry.inline_writes, "CHECKPOINT_EVERY", 5)
    writes = _writes(db)
    size = path.stat().st_size

    def add_many(session: Session) -> None:
        session.add_all(Note(body="x" * 200) for _ in range(40))

    with tenant_scope(CTX_A):
        for _ in range(4):
            writes.run_within(STEPS, "many", CTX_A, add_many)
        assert writes.checkpointing is None
        assert path.stat().st_size == size  # every page still in the WAL
        writes.run_within(STEPS, "many", CTX_A, add_many)
    checkpoint = writes.checkpointing
    if checkpoint is not None:
        checkpoint.join(10)
    assert path.stat().st_size > size  # the pages reached the database file
    assert len(_bodies(db, CTX_A)) == 200


@pytest.mark.parametrize(
    ("pragmas", "safe"),
    [
        ({}, True),
        ({"synchronous": "normal"}, True),
        ({"synchronous": "FULL"}, False),
        ({"journal_mode": "DELETE"}, False),
    ],
)
def test_offered_only_where_a_commit_never_syncs_to_disk(
    pragmas: dict[str, str], safe: bool, tmp_path: Path
) -> None:
    assert inline_safe(pragmas) is safe
    db = Database(f"sqlite:///{tmp_path / 'x.sqlite3'}", sqlite_pragmas=pragmas)
    assert (db.inline_writes() is not None) is safe
    db.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_not_offered_for_a_database_private_to_its_connection(url: str) -> None:
    assert Database(url).inline_writes() is None
