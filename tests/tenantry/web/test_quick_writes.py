"""``Writes``: each ``run`` is a unit of work, committed when it returns.

On an SQLite file it runs on the event loop when it can start at once and its SQL is
short, else in a worker thread that commits before it hands the result back; either way
the write lock is held for the work alone, not across the rest of the route: another
writer can begin once ``run`` returned.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tenantry.errors import Conflict
from tenantry.web import MemberContext, Writes
from tenantry_server.settings import Settings
from tests.conftest import only_sqlite, register
from tests.notes_app import AppNote
from tests.support.routes import client_with

router = APIRouter(prefix="/api/quick-writes")


def _add_note(session: Session, body: str) -> int:
    note = AppNote(body=body)
    session.add(note)
    session.flush()
    return note.id


def _database_file(request: Request) -> str:
    path = request.app.state.tenancy.db.engine.url.database
    assert path
    return str(path)


@router.post("/then-look", status_code=201)
async def then_look(ctx: MemberContext, writes: Writes, request: Request) -> dict[str, Any]:
    """Write, then look from a connection of another writer while the route still runs."""
    note_id = await writes.run(_add_note, "written")
    other = sqlite3.connect(_database_file(request), timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # the write lock is free already
        seen = other.execute("SELECT body FROM app_notes WHERE id = ?", (note_id,)).fetchall()
        other.execute("ROLLBACK")
    finally:
        other.close()
    return {"seen": [row[0] for row in seen]}


# The threads each run of the work was on, and the route's own (the event loop's).
_RAN_ON: list[int] = []
_HEAVY = text(
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 300000) "
    "SELECT count(*) FROM r"
)


def _add_noting_thread(session: Session, body: str, heavy: bool) -> int:
    _RAN_ON.append(threading.get_ident())
    note_id = _add_note(session, body)
    if heavy:  # ~3M SQLite steps, 30 times a unit of work's budget on the loop
        session.execute(_HEAVY)
    return note_id


@router.post("/where", status_code=201)
async def where(ctx: MemberContext, writes: Writes, heavy: bool = False) -> dict[str, Any]:
    _RAN_ON.clear()
    await writes.run(_add_noting_thread, "heavy" if heavy else "light", heavy)
    return {"loop": threading.get_ident(), "work": list(_RAN_ON)}


@router.post("/then-fail")
async def then_fail(ctx: MemberContext, writes: Writes) -> None:
    await writes.run(_add_note, "kept")
    raise Conflict("the route failed after its work")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with client_with(settings, "quick-writes-test", router) as test_client:
        yield test_client


@only_sqlite
def test_the_work_is_committed_and_the_lock_free_when_run_returns(client: TestClient) -> None:
    alice = register(client, "alice@example.com")
    answer = client.post("/api/quick-writes/then-look", headers=alice.headers)
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"seen": ["written"]}


def test_a_route_failing_after_its_work_keeps_the_work(client: TestClient) -> None:
    """On both backends, and on PostgreSQL both in a session of its own (the first
    request) and in the transaction the membership check began (a known claim)."""
    alice = register(client, "alice@example.com")
    for _ in range(3):
        answer = client.post("/api/quick-writes/then-fail", headers=alice.headers)
        assert answer.status_code == 409, answer.text
    notes = client.get("/api/notes", headers=alice.headers).json()
    assert [note["body"] for note in notes] == ["kept"] * 3


@only_sqlite
def test_short_work_runs_on_the_event_loop(client: TestClient) -> None:
    alice = register(client, "alice@example.com")
    answer = client.post("/api/quick-writes/where", headers=alice.headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["work"] == [answer.json()["loop"]]


@only_sqlite
def test_work_past_its_budget_runs_again_in_a_thread_and_is_written_once(
    client: TestClient,
) -> None:
    alice = register(client, "alice@example.com")
    answer = client.post("/api/quick-writes/where?heavy=true", headers=alice.headers)
    assert answer.status_code == 201, answer.text
    loop, (first, second) = answer.json()["loop"], answer.json()["work"]
    assert first == loop and second != loop  # cut short on the loop, then in a thread
    notes = client.get("/api/notes", headers=alice.headers).json()
    assert [note["body"] for note in notes] == ["heavy"]  # the first run left nothing


@only_sqlite
def test_work_meeting_another_process_writing_waits_for_it_in_a_thread(
    client: TestClient,
) -> None:
    alice = register(client, "alice@example.com")
    path = client.app.state.tenancy.db.engine.url.database  # type: ignore[attr-defined]
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's write, ended in a moment
    timer = threading.Timer(1.0, lambda: other.execute("COMMIT"))
    timer.start()
    try:
        answer = client.post("/api/quick-writes/where", headers=alice.headers)
    finally:
        timer.join()
        other.close()
    assert answer.status_code == 201, answer.text
    assert answer.json()["work"] != [answer.json()["loop"]]  # it waited, off the loop
    notes = client.get("/api/notes", headers=alice.headers).json()
    assert [note["body"] for note in notes] == ["light"]
