"""Rows created are metered however they were inserted: objects or ORM bulk statements."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, event, insert, select
from sqlalchemy.orm import Session

from meterbook.models import Reading
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.models import Tenant, UsageCounter
from tenantry.plans.metering import FLUSH_ROWS, UsageMeter, install_metering, period_start
from tenantry.roles import Role
from tenantry_server.settings import Settings

CTX = TenantContext(uuid.uuid4(), None, Role.OWNER)  # type: ignore[arg-type]


@pytest.fixture
def metered(settings: Settings) -> Iterator[tuple[Database, UsageMeter]]:
    database = Database(settings.database_url)
    meter = UsageMeter(database.sessions, interval=3600)
    database.setup_sessions(lambda factory, writes: install_metering(factory, meter))
    with database.session() as session:
        session.add(Tenant(id=CTX.tenant_id, slug="metered", name="Metered"))
    yield database, meter
    meter.close()
    database.dispose()


def _rows(n: int) -> list[dict[str, Any]]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [{"tenant_id": CTX.tenant_id, "read_at": at, "meter_wh": i} for i in range(n)]


def _created(meter: UsageMeter) -> int:
    return meter.pending(CTX.tenant_id, period_start()).get("rows_created.readings", 0)


@pytest.mark.parametrize(
    ("statement", "params"),
    [(insert(Reading), _rows(3)), (insert(Reading).values(_rows(3)), None)],
    ids=["parameter sets", "multi-row values"],
)
def test_bulk_inserted_rows_are_metered_on_commit(
    metered: tuple[Database, UsageMeter], statement: Any, params: Any
) -> None:
    db, meter = metered
    with tenant_scope(CTX), db.session() as session:
        session.add(Reading(read_at=datetime(2026, 1, 2, tzinfo=UTC), meter_wh=9))
        session.flush()
        session.execute(statement, params)  # was not counted
    assert _created(meter) == 4


def test_a_rolled_back_bulk_insert_is_not_metered(metered: tuple[Database, UsageMeter]) -> None:
    db, meter = metered
    with tenant_scope(CTX), pytest.raises(RuntimeError), db.session() as session:
        session.execute(insert(Reading), _rows(2))
        raise RuntimeError("the request failed")
    assert _created(meter) == 0


def test_a_flush_commits_in_parts_and_keeps_only_what_it_did_not_write(
    settings: Settings,
) -> None:
    """A flush of many tenants commits FLUSH_ROWS counters at a time (on SQLite, requests
    that write wait for a part, not for the whole flush); when a part fails, only its
    counters and those after it are kept for the next flush: none is counted twice."""
    database = Database(settings.database_url)
    meter = UsageMeter(database.sessions, reads=database.read_sessions, interval=3600)
    ids = [uuid.UUID(int=i + 1) for i in range(FLUSH_ROWS + 20)]  # flushed in this order
    with database.session() as session:
        session.add_all(Tenant(id=t, slug=f"flush-{t.int}", name="F") for t in ids)
    for tenant_id in ids:
        meter.add(tenant_id, "requests", 2)
    gone = ids[-1]
    parts: list[int] = []

    def purge_after_the_first_part(session: Session) -> None:
        if session.info.get("purging"):
            return
        parts.append(1)
        if len(parts) == 1:  # the second part now meets a tenant that is gone
            with database.session() as purge:
                purge.info["purging"] = True
                purge.execute(delete(Tenant).where(Tenant.id == gone))

    event.listen(database.sessions, "after_commit", purge_after_the_first_part)

    def stored(tenant_id: uuid.UUID) -> int | None:
        with database.sessions() as s:
            return s.scalar(select(UsageCounter.value).where(UsageCounter.tenant_id == tenant_id))

    try:
        assert meter.flush() == 0  # the second part failed on the purged tenant
        assert len(parts) == 1
        assert stored(ids[0]) == 2 and meter.pending(ids[0], period_start()) == {}
        assert stored(ids[-2]) is None
        assert meter.pending(ids[-2], period_start()) == {"requests": 2}
        assert meter.flush() == 20  # the purged tenant's counter is dropped now
        assert [stored(t) for t in (ids[0], ids[FLUSH_ROWS - 1], ids[-2])] == [2, 2, 2]
        assert stored(gone) is None
    finally:
        event.remove(database.sessions, "after_commit", purge_after_the_first_part)
        meter.close()
        database.dispose()
