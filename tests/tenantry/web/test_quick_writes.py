"""``Writes``: each ``run`` is a unit of work, committed when it returns.

On an SQLite file its worker thread commits before it hands the result back, so the
write lock is held for the work alone, not across the hop back to the loop, the rest of
the route and a second hop to commit: another writer can begin once ``run`` returned.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
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
