"""``AsyncDbSession``: an async app's writes meet the same plan, metering and audit hooks as
a sync app's, on both backends (they are attached once, to every kind of session)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import create_engine, func, select, text, update

from meterbook.models import Reading
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.models import AuditEvent, User
from tenantry.roles import Role
from tenantry.web import AsyncDbSession, DbSession, MemberContext, ViewerContext
from tenantry_server.settings import Settings
from tests.conftest import Member, only_postgresql, register
from tests.support.routes import client_with

router = APIRouter(prefix="/api/async-readings")


class Batch(BaseModel):
    count: int


@router.post("", status_code=201)
async def add_readings(body: Batch, ctx: MemberContext, session: AsyncDbSession) -> dict[str, int]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    session.add_all(
        Reading(read_at=start + timedelta(days=i), meter_wh=1000 * i) for i in range(body.count)
    )
    await session.flush()
    return {"added": body.count}


class Numbered(BaseModel):
    id: int
    meter_wh: int | None  # a null reaches the database's NOT NULL


def _numbered(body: Numbered) -> Reading:
    return Reading(id=body.id, read_at=datetime(2026, 1, 1, tzinfo=UTC), meter_wh=body.meter_wh)


@router.post("/numbered", status_code=201)
async def add_numbered(body: Numbered, ctx: MemberContext, session: AsyncDbSession) -> None:
    session.add(_numbered(body))
    await session.flush()


@router.post("/deactivate", status_code=200)
def zero_by_key(ids: list[int], ctx: MemberContext, session: DbSession) -> None:
    """A bulk UPDATE by key with ids from the client (a "bulk toggle" route)."""
    rows = [{"tenant_id": ctx.tenant_id, "id": i, "meter_wh": 0} for i in ids]
    session.execute(update(Reading), rows)


@router.post("/numbered-sync", status_code=201)
def add_numbered_sync(body: Numbered, ctx: MemberContext, session: DbSession) -> None:
    session.add(_numbered(body))  # committed after the route: the refusal comes in teardown


@router.post("/session-first", status_code=201)
async def add_unflushed(body: Numbered, session: AsyncDbSession, ctx: MemberContext) -> None:
    """The session declared before the tenant context, its row left to the teardown commit."""
    session.add(_numbered(body))


class Amount(BaseModel):
    n: int


@router.post("/checked", status_code=201)
async def add_checked(body: Amount, ctx: MemberContext, session: AsyncDbSession) -> None:
    """Writes a value a CHECK constraint judges (``check_probe``, made by the test)."""
    await session.execute(text("INSERT INTO check_probe (n) VALUES (:n)"), {"n": body.n})


class Note(BaseModel):
    text: str


@router.post("/noted", status_code=201)
async def add_noted(body: Note, ctx: MemberContext, session: AsyncDbSession) -> None:
    """Writes a text a B-tree index holds (``index_probe``, made by the test)."""
    await session.execute(text("INSERT INTO index_probe (t) VALUES (:t)"), {"t": body.text})


@router.post("/noted-sync", status_code=201)
def add_noted_sync(body: Note, ctx: MemberContext, session: DbSession) -> None:
    session.execute(text("INSERT INTO index_probe (t) VALUES (:t)"), {"t": body.text})


@router.get("")
async def count_readings(ctx: ViewerContext, session: AsyncDbSession) -> dict[str, Any]:
    return {"total": await session.scalar(select(func.count()).select_from(Reading))}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with client_with(settings, "async-session-test", router) as test_client:
        yield test_client


def _db(client: TestClient) -> Database:
    db: Database = client.app.state.tenancy.db  # type: ignore[attr-defined]
    return db


def _limit_readings(client: TestClient, tenant_id: str, value: int) -> None:
    root = register(client, "root@example.com")
    with _db(client).session() as session:
        session.execute(update(User).where(User.id == root.user_id).values(is_platform_admin=True))
    granted = client.put(
        f"/api/admin/tenants/{tenant_id}/overrides/rows.readings",
        json={"value": value, "note": "async quota test"},
        headers=root.headers,
    )
    assert granted.status_code == 200, granted.text


def _add(client: TestClient, who: Member, count: int) -> Any:
    return client.post("/api/async-readings", json={"count": count}, headers=who.headers)


def _total(client: TestClient, who: Member) -> int:
    answer = client.get("/api/async-readings", headers=who.headers)
    assert answer.status_code == 200, answer.text
    total: int = answer.json()["total"]
    return total


def test_an_async_write_beyond_the_row_quota_is_refused_whole(client: TestClient) -> None:
    alice = register(client, "alice@example.com")
    bob = register(client, "bob@example.com")
    _limit_readings(client, alice.tenant_id, 3)
    refused = _add(client, alice, 5)
    assert refused.status_code == 402, refused.text
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert (error["details"]["requested"], error["details"]["current"]) == (5, 0)
    assert _total(client, alice) == 0
    assert _add(client, alice, 3).status_code == 201
    assert _add(client, alice, 1).status_code == 402
    assert _total(client, alice) == 3
    # The override is Alice's: Bob's household writes on.
    assert _add(client, bob, 5).status_code == 201
    assert _total(client, bob) == 5


def test_an_async_write_is_metered_and_its_rows_audited(client: TestClient) -> None:
    alice = register(client, "alice@example.com")
    assert _add(client, alice, 2).status_code == 201
    plan = client.get("/api/tenant/plan", headers=alice.headers).json()
    assert plan["usage"]["rows_created.readings"] == 2
    with _db(client).session() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.actor_id == alice.user_id, AuditEvent.action.like("row.%")
            )
        ).all()
    assert actions, "the async write left no row audit event"
    assert set(actions) == {"row.created"}


@pytest.mark.parametrize("route", ["numbered", "numbered-sync"])
def test_a_write_a_constraint_refuses_is_a_409_that_quotes_nothing(
    client: TestClient, route: str
) -> None:
    alice = register(client, "alice@example.com")
    reading = {"id": 7_000_001, "meter_wh": 987_654_321}
    first = client.post(f"/api/async-readings/{route}", json=reading, headers=alice.headers)
    assert first.status_code == 201, first.text
    again = client.post(f"/api/async-readings/{route}", json=reading, headers=alice.headers)
    assert again.status_code == 409, again.text
    error = again.json()["error"]
    assert error["code"] == "conflict"
    # Which of the two conflicts, by its constraint (an outside tester could not tell a
    # taken key from a missing reference); never a value.
    assert error["message"].startswith("a value that must be unique is taken ("), error
    assert "constraint" in error["details"]
    assert "987654321" not in again.text and "7000001" not in again.text
    assert _total(client, alice) == 1
    # The same key in another tenant is another row: (tenant_id, id).
    bob = register(client, "bob@example.com")
    theirs = client.post(f"/api/async-readings/{route}", json=reading, headers=bob.headers)
    assert theirs.status_code == 201, theirs.text


@pytest.mark.parametrize("route", ["numbered", "numbered-sync"])
def test_a_null_the_database_refuses_is_a_422_not_a_conflict(
    client: TestClient, route: str
) -> None:
    """A NOT NULL refusal answered 409 "a row it refers to does not exist here, or a
    value that must be unique is taken": neither was true."""
    alice = register(client, "alice@example.com")
    reading = {"id": 7_000_002, "meter_wh": None}
    refused = client.post(f"/api/async-readings/{route}", json=reading, headers=alice.headers)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "missing_value" and error["details"] == {"column": "meter_wh"}
    assert error["message"] == "meter_wh is required: it cannot be null"
    assert _total(client, alice) == 0


def test_a_bulk_update_naming_another_tenants_row_is_a_409_and_changes_nothing(
    client: TestClient,
) -> None:
    """Found by a stranger's app: the driver's row count refused the batch with a 500."""
    alice, bob = register(client, "alice@example.com"), register(client, "bob@example.com")
    for who, key in ((alice, 7_100_001), (bob, 7_100_002)):
        added = client.post(
            "/api/async-readings/numbered-sync",
            json={"id": key, "meter_wh": 5},
            headers=who.headers,
        )
        assert added.status_code == 201, added.text
    both = client.post("/api/async-readings/deactivate", json=[7_100_001, 7_100_002],
                       headers=bob.headers)  # fmt: skip
    assert both.status_code == 409, both.text
    assert both.json()["error"]["code"] == "conflict"
    db: Database = client.app.state.tenancy.db  # type: ignore[attr-defined]
    for who, key in ((alice, 7_100_001), (bob, 7_100_002)):  # as each tenant (RLS on PG)
        ctx = TenantContext(uuid.UUID(who.tenant_id), who.user_id, Role.OWNER)  # type: ignore[arg-type]
        with tenant_scope(ctx), db.sessions() as s:
            assert s.scalar(select(Reading.meter_wh).where(Reading.id == key)) == 5


def test_a_session_declared_before_the_tenant_context_commits_for_that_tenant(
    client: TestClient,
) -> None:
    """Found by a stranger's app: the session, made before the tenant was known and torn down
    after its scope was left, flushed its unflushed row with no tenant: a 500, the row lost."""
    alice, bob = register(client, "alice@example.com"), register(client, "bob@example.com")
    reading = {"id": 7_200_001, "meter_wh": 42}
    added = client.post("/api/async-readings/session-first", json=reading, headers=alice.headers)
    assert added.status_code == 201, added.text
    assert (_total(client, alice), _total(client, bob)) == (1, 0)
    # The same id in Bob's household is his own row.
    theirs = client.post("/api/async-readings/session-first", json=reading, headers=bob.headers)
    assert theirs.status_code == 201, theirs.text
    assert (_total(client, alice), _total(client, bob)) == (1, 1)


def test_a_value_a_check_constraint_refuses_is_a_422(
    client: TestClient, settings: Settings
) -> None:
    owner = create_engine(settings.migration_database_url or settings.database_url)
    with owner.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE check_probe (n INTEGER CONSTRAINT n_positive CHECK (n > 0))"
        )
    owner.dispose()
    alice = register(client, "alice@example.com")
    taken = client.post("/api/async-readings/checked", json={"n": 5}, headers=alice.headers)
    assert taken.status_code == 201, taken.text
    refused = client.post("/api/async-readings/checked", json={"n": -5}, headers=alice.headers)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_value" and error["details"] == {"constraint": "n_positive"}
    assert error["message"] == "a value is refused by the rule n_positive"


@only_postgresql
@pytest.mark.parametrize("route", ["noted", "noted-sync"])
def test_a_text_too_long_for_its_index_is_a_422_not_a_500(
    client: TestClient, settings: Settings, route: str
) -> None:
    """Found by a stranger's app: a legacy index on ``lower(description)`` refused a
    900 kB description (SQLSTATE 54000, beyond a B-tree row), answered 500."""
    owner = create_engine(settings.migration_database_url or settings.database_url)
    with owner.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE index_probe (t TEXT)")
        conn.exec_driver_sql("CREATE INDEX index_probe_lower ON index_probe (lower(t))")
    owner.dispose()
    alice = register(client, "alice@example.com")
    path = f"/api/async-readings/{route}"
    taken = client.post(path, json={"text": "short"}, headers=alice.headers)
    assert taken.status_code == 201, taken.text
    long = "".join(f"{i:x}" for i in range(2_000, 200_000))  # ~1 MB that compresses badly
    refused = client.post(path, json={"text": long[:900_000]}, headers=alice.headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == {
        "code": "invalid_value",
        "message": "a value is too large to store or index",
    }
