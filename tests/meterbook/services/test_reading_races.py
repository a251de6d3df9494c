"""Reading rules hold when one household's writes run at once, on PostgreSQL.

Each writer runs the service in a session of its own, in a thread; a barrier in
``before_flush`` holds every writer that has checked until the others have checked too.
Without the tenant's writers serialised all of them check before any writes, and all
pass; with them, the first holds the rest back, the barrier gives up after a moment,
and the others check against what the first wrote.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from meterbook.domain.records import ReadingDraft
from meterbook.models import Reading
from meterbook.services import readings, transfer
from tenantry.context import TenantContext, tenant_scope
from tenantry.errors import ValidationFailed
from tenantry.ids import TenantId, UserId
from tenantry.models import Membership, User
from tenantry.roles import Role
from tenantry.scoping import bind_tenant
from tests.conftest import only_postgresql

pytestmark = only_postgresql

WAIT = 1.0  # how long a writer that has checked waits for the others to check too
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)

Work = Callable[[Session, TenantContext], object]


def _context(app: FastAPI, email: str) -> TenantContext:
    with app.state.tenancy.db.session() as session:
        user_id, tenant_id = session.execute(
            select(User.id, Membership.tenant_id)
            .join(Membership, Membership.user_id == User.id)
            .where(User.email == email)
        ).one()
    return TenantContext(TenantId(tenant_id), UserId(user_id), Role.OWNER)


def _race(app: FastAPI, ctx: TenantContext, works: list[Work]) -> list[object]:
    """Run ``works`` at once, each in its own committed session; each one's result or error."""
    checked = threading.Barrier(len(works))
    results: list[object] = [None] * len(works)

    def wait_for_the_others(*_: Any) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):  # the others are held
            checked.wait(WAIT)  # back: this writer goes first

    def run(index: int) -> None:
        try:
            with tenant_scope(ctx), app.state.tenancy.db.session() as session:
                bind_tenant(session, ctx)
                event.listen(session, "before_flush", wait_for_the_others)
                results[index] = works[index](session, ctx)
        except Exception as exc:  # the refusal is the result
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def _create(at: datetime, kwh: int) -> Work:
    """Create a reading; its id is the result."""
    draft = ReadingDraft(at, kwh * 1000, "", False)
    return lambda session, ctx: readings.create_reading(session, ctx, draft).id


def _stored(app: FastAPI, ctx: TenantContext) -> list[tuple[datetime, int]]:
    with tenant_scope(ctx), app.state.tenancy.db.session() as session:
        bind_tenant(session, ctx)
        return [
            (at, wh)
            for at, wh in session.execute(
                select(Reading.read_at, Reading.meter_wh).order_by(Reading.read_at)
            )
        ]


def _refusals(results: list[object]) -> list[ValidationFailed]:
    unexpected = [r for r in results if isinstance(r, Exception)]
    refused = [r for r in unexpected if isinstance(r, ValidationFailed)]
    assert refused == unexpected, unexpected
    return refused


@pytest.fixture
def household(app: FastAPI, alice: dict[str, str]) -> TenantContext:
    return _context(app, "alice@example.com")


def test_of_readings_created_at_once_at_one_time_one_is_stored(
    app: FastAPI, household: TenantContext
) -> None:
    at = START + timedelta(hours=1)
    results = _race(app, household, [_create(at, 900100) for _ in range(4)])
    refused = _refusals(results)
    assert len(refused) == 3
    assert all(r.status == 422 and "exactly this time" in r.message for r in refused)
    assert _stored(app, household) == [(at, 900100 * 1000)]


def test_a_reading_created_beside_another_cannot_make_the_meter_run_backwards(
    app: FastAPI, household: TenantContext
) -> None:
    first = _create(START, 100)
    _race(app, household, [first])
    later, latest = START + timedelta(hours=1), START + timedelta(hours=2)
    results = _race(app, household, [_create(later, 2000005), _create(latest, 2000000)])
    [refused] = _refusals(results)
    assert refused.status == 422 and refused.details["field"] == "meter_kwh"
    stored = [wh for _, wh in _stored(app, household)]
    assert len(stored) == 2 and stored == sorted(stored)


def test_readings_moved_at_once_cannot_make_the_meter_run_backwards(
    app: FastAPI, household: TenantContext
) -> None:
    """Two updates, each fine against what it read: together the meter would go down."""
    low, high = _race(
        app, household, [_create(START, 100), _create(START + timedelta(hours=3), 300)]
    )
    assert isinstance(low, int) and isinstance(high, int)

    def raise_low(session: Session, ctx: TenantContext) -> object:
        draft = ReadingDraft(START, 250_000, "", False)
        return readings.update_reading(session, ctx, low, draft).id

    def lower_high(session: Session, ctx: TenantContext) -> object:
        draft = ReadingDraft(START + timedelta(hours=3), 200_000, "", False)
        return readings.update_reading(session, ctx, high, draft).id

    [refused] = _refusals(_race(app, household, [raise_low, lower_high]))
    assert refused.status == 422
    stored = [wh for _, wh in _stored(app, household)]
    assert stored == sorted(stored)


def test_a_file_imported_twice_at_once_is_imported_once(
    app: FastAPI, household: TenantContext
) -> None:
    text = f"read_at,meter_kwh\n{(START + timedelta(hours=5)).isoformat()},4000\n"

    def upload(session: Session, ctx: TenantContext) -> object:
        return transfer.import_readings(session, ctx, text)

    results = _race(app, household, [upload, upload])
    [refused] = _refusals(results)
    assert "exactly this time" in refused.message
    assert results.count(1) == 1
    with tenant_scope(household), app.state.tenancy.db.session() as session:
        bind_tenant(session, household)
        assert session.scalar(select(func.count(Reading.id))) == 1


def test_of_posts_at_once_at_one_time_one_is_stored(
    client: TestClient, alice: dict[str, str]
) -> None:
    """The tester's case, through the API (on PostgreSQL, ``Writes`` on the async driver)."""
    body = {"read_at": (START + timedelta(hours=7)).isoformat(), "meter_kwh": "900100"}
    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(lambda _: client.post("/api/readings", json=body, headers=alice), range(6))
        )
    assert sorted(a.status_code for a in answers) == [201, 422, 422, 422, 422, 422]
    assert client.get("/api/readings", headers=alice).json()["total"] == 1
