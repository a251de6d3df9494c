"""Read-only sessions take no write lock and refuse writes; writers queue, never fail."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import OperationalError

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.models import Tenant
from tenantry.read_only import ReadOnlySession
from tenantry.roles import Role
from tenantry_server.settings import Settings
from tests.conftest import Member, only_sqlite
from tests.notes_app import AppNote as Note

A = uuid.uuid4()
CTX_A = TenantContext(A, None, Role.OWNER)  # type: ignore[arg-type]


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    # A short busy timeout: a test that wrongly waits for the write lock fails fast.
    database = Database(settings.database_url, sqlite_pragmas={"busy_timeout": "300"})
    with database.session() as s:
        s.add(Tenant(id=A, slug="a", name="A"))
    with tenant_scope(CTX_A), database.session() as s:
        s.add(Note(body="first"))
    yield database
    database.dispose()


@pytest.fixture
def write_lock(settings: Settings) -> Iterator[None]:
    """Another connection holding SQLite's write lock for the test's duration."""
    con = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"), isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    yield
    con.execute("ROLLBACK")
    con.close()


@only_sqlite
def test_a_read_only_session_reads_while_another_connection_writes(
    db: Database, write_lock: None
) -> None:
    with tenant_scope(CTX_A), db.read_sessions() as s:
        assert s.scalars(select(Note.body)).all() == ["first"]
    # The writer's side, for contrast: it has to wait for the lock and gives up.
    with (
        pytest.raises(OperationalError, match="locked"),
        tenant_scope(CTX_A),
        db.session() as s,
    ):
        s.add(Note(body="second"))


@only_sqlite
def test_a_get_answers_while_another_connection_writes(
    client: TestClient, alice: Member, write_lock: None
) -> None:
    response = client.get("/api/notes", headers=alice.headers)
    assert response.status_code == 200


def test_a_flush_in_a_read_only_session_is_refused(db: Database) -> None:
    with tenant_scope(CTX_A), db.read_sessions() as s:
        note = s.scalars(select(Note)).one()
        note.body = "changed"
        with pytest.raises(ReadOnlySession):
            s.flush()
        s.rollback()
        s.add(Note(body="new"))
        with pytest.raises(ReadOnlySession):
            s.flush()


def test_a_bulk_statement_in_a_read_only_session_is_refused(db: Database) -> None:
    with tenant_scope(CTX_A), db.read_sessions() as s, pytest.raises(ReadOnlySession):
        s.execute(update(Note).values(body="changed"))


@only_sqlite
def test_a_core_write_in_a_read_only_session_fails_on_sqlite(db: Database) -> None:
    with db.read_sessions() as s, pytest.raises(OperationalError, match="readonly"):
        s.execute(text("UPDATE tenantry_tenants SET name = 'x'"))


@only_sqlite
def test_a_pooled_connection_is_writable_again_after_a_read(db: Database) -> None:
    for _ in range(3):
        with db.read_sessions() as s:
            s.scalar(select(func.count()).select_from(Tenant))
        with db.session() as s:
            s.execute(text("UPDATE tenantry_tenants SET name = name || '.'"))


def test_concurrent_read_then_write_transactions_never_fail(settings: Settings) -> None:
    db = Database(settings.database_url, pool_size=8)
    with db.session() as s:
        s.add(Tenant(id=A, slug="a", name="A"))
    errors: list[BaseException] = []
    writers, rounds = 6, 15

    def write() -> None:
        try:
            for _ in range(rounds):
                # read, then write what was read: the lost-update / upgrade case
                with tenant_scope(CTX_A), db.session() as s:
                    count = s.scalar(select(func.count()).select_from(Note))
                    s.add(Note(body=f"after {count}"))
                with tenant_scope(CTX_A), db.read_sessions() as s:
                    s.scalars(select(Note.id)).all()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with tenant_scope(CTX_A), db.read_sessions() as s:
        bodies = s.scalars(select(Note.body)).all()
    db.dispose()
    assert errors == []
    assert len(bodies) == writers * rounds
    if db.is_sqlite:
        # Writers take turns (BEGIN IMMEDIATE): each saw every earlier commit.
        assert sorted(int(b.split()[1]) for b in bodies) == list(range(writers * rounds))
