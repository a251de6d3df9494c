"""Read-only sessions take no write lock and refuse writes; writers queue, never fail."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.models import Tenant
from tenantry.read_only import ReadOnlySession, is_read_only_refusal
from tenantry.roles import Role
from tenantry.web import AsyncDbSession, DbSession, Reads, ViewerContext
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


def test_a_raw_sql_write_in_a_read_only_session_is_refused_by_the_database(
    db: Database,
) -> None:
    """The ORM guard cannot see ``text()``: SQLite's query_only and PostgreSQL's
    ``BEGIN READ ONLY`` refuse it."""
    with db.read_sessions() as s, pytest.raises(DBAPIError) as raised:
        s.execute(text("UPDATE tenantry_tenants SET name = 'x'"))
    assert is_read_only_refusal(raised.value)
    with db.read_sessions() as s:
        assert s.scalar(select(Tenant.name).where(Tenant.id == A)) == "A"


def test_a_pooled_connection_is_writable_again_after_a_read(db: Database) -> None:
    for _ in range(3):
        with db.read_sessions() as s:
            s.scalar(select(func.count()).select_from(Tenant))
        with db.session() as s:
            s.execute(text("UPDATE tenantry_tenants SET name = name || '.'"))
    with db.session() as s:
        assert s.scalar(select(Tenant.name).where(Tenant.id == A)) == "A..."


def _raw_write(session: Session) -> int:
    result = session.execute(text("UPDATE app_notes SET body = 'rewritten'"))
    return int(result.rowcount)  # type: ignore[attr-defined]


@pytest.mark.parametrize("route", ["sync", "async", "reads"])
def test_a_get_route_s_raw_sql_write_is_refused_on_every_session_kind(
    client: TestClient, alice: Member, route: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A viewer's GET must not rewrite the tenant's rows through ``text()`` (README: the
    session is read-only for GET/HEAD/OPTIONS), whichever session the route uses."""

    def sync_route(ctx: ViewerContext, session: DbSession) -> int:
        return _raw_write(session)

    async def async_route(ctx: ViewerContext, session: AsyncDbSession) -> int:
        result = await session.execute(text("UPDATE app_notes SET body = 'rewritten'"))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def reads_route(ctx: ViewerContext, reads: Reads) -> int:
        return await reads.run(_raw_write)

    endpoint = {"sync": sync_route, "async": async_route, "reads": reads_route}[route]
    client.app.add_api_route(f"/api/raw-write-{route}", endpoint)  # type: ignore[attr-defined]
    made = client.post("/api/notes", json={"body": "mine"}, headers=alice.headers)
    assert made.status_code == 201
    answer = client.get(f"/api/raw-write-{route}", headers=alice.headers)
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "this session is read-only" in caplog.text  # the log says what to change
    notes = client.get("/api/notes", headers=alice.headers).json()
    assert [n["body"] for n in notes] == ["mine"]


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
