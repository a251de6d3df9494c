"""Rows created are metered however they were inserted: objects or ORM bulk statements."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert

from meterbook.models import Reading
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.models import Tenant
from tenantry.plans.metering import UsageMeter, install_metering, period_start
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
