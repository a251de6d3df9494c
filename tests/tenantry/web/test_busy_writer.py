"""One writer at a time on SQLite: a write that cannot get its turn in time is told so.

A long write of one tenant (a large CSV import run as a job) holds the database's write
lock; another tenant's write waits up to the busy timeout, and past it gets a 503
``database_busy`` with ``Retry-After``, not a 500, whether the lock is held by a writer
of this process (its turn) or of another one (SQLite's lock).
"""

from __future__ import annotations

import sqlite3

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tenantry.sqlite import writer_turns_of
from tests.conftest import Member, only_sqlite, register


@pytest.fixture
def bob(client: TestClient) -> Member:
    return register(client, "bob@example.com")


@pytest.fixture
def short_turns(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy timeout of 0.3 s instead of 10."""
    turns = writer_turns_of(app.state.tenancy.db.engine)
    assert turns is not None
    monkeypatch.setattr(turns, "timeout", 0.3)


def _assert_busy(answer: object) -> None:
    assert answer.status_code == 503, answer.text  # type: ignore[attr-defined]
    assert answer.json()["error"]["code"] == "database_busy"  # type: ignore[attr-defined]
    assert answer.headers["Retry-After"]  # type: ignore[attr-defined]


# A route writing in its request's session (DbSession), and one through ``Writes``.
WRITES = [
    ("/api/notes", {"body": "b"}),
    ("/api/readings", {"read_at": "2026-01-01T08:00:00Z", "meter_kwh": "12.5"}),
]


@only_sqlite
@pytest.mark.parametrize(("path", "body"), WRITES)
def test_a_write_meeting_a_writer_of_this_process_is_told_to_retry(
    app: FastAPI,
    client: TestClient,
    alice: Member,
    bob: Member,
    short_turns: None,
    path: str,
    body: dict[str, str],
) -> None:
    turns = writer_turns_of(app.state.tenancy.db.engine)
    assert turns is not None
    turns.lock.acquire()  # alice's long write, holding this process's turn
    try:
        answer = client.post(path, json=body, headers=bob.headers)
    finally:
        turns.lock.release()
    _assert_busy(answer)
    # Nothing half done: once the turn is free the same write goes through, once.
    assert client.post(path, json=body, headers=bob.headers).status_code == 201
    listed = client.get(path, headers=bob.headers).json()
    assert len(listed if isinstance(listed, list) else listed["items"]) == 1


@only_sqlite
def test_a_write_meeting_another_process_writing_is_told_to_retry(
    app: FastAPI, client: TestClient, alice: Member, bob: Member, short_turns: None
) -> None:
    path = app.state.tenancy.db.engine.url.database
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another worker's long write
    try:
        answer = client.post("/api/notes", json={"body": "b"}, headers=bob.headers)
    finally:
        other.execute("ROLLBACK")
        other.close()
    _assert_busy(answer)
    assert client.post("/api/notes", json={"body": "b"}, headers=bob.headers).status_code == 201


@only_sqlite
def test_a_read_whose_audit_event_cannot_be_written_is_told_to_retry(
    app: FastAPI, client: TestClient, alice: Member, short_turns: None
) -> None:
    """An export is read in a read-only session and records ``data.exported`` when that
    commits: the record's write meeting a busy writer fails the request cleanly."""
    turns = writer_turns_of(app.state.tenancy.db.engine)
    assert turns is not None
    turns.lock.acquire()
    try:
        answer = client.get("/api/export", headers=alice.headers)
    finally:
        turns.lock.release()
    _assert_busy(answer)
    assert client.get("/api/export", headers=alice.headers).status_code == 200
