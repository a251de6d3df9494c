"""Row quotas on ORM bulk inserts: every row a statement inserts counts, however given."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from meterbook.models import Reading
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.models import Tenant
from tenantry.plans import Catalogue, Plan, QuotaExceeded, rows_limit
from tenantry.plans.errors import PlanChangeRefused
from tenantry.plans.quotas import install_quotas
from tenantry.roles import Role
from tenantry_server.settings import Settings

CATALOGUE = Catalogue.of([Plan(name="free", limits={rows_limit("readings"): 2})])
CTX = TenantContext(uuid.uuid4(), None, Role.OWNER)  # type: ignore[arg-type]


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    database.setup_sessions(lambda factory, writes: install_quotas(factory, CATALOGUE))
    with database.session() as session:
        session.add(Tenant(id=CTX.tenant_id, slug="quota", name="Quota", plan="free"))
    yield database
    database.dispose()


def _rows(n: int) -> list[dict[str, Any]]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [{"tenant_id": CTX.tenant_id, "read_at": at, "meter_wh": i} for i in range(n)]


@pytest.mark.parametrize(
    ("statement", "params"),
    [
        (insert(Reading), _rows(3)),
        (insert(Reading).values(_rows(3)), None),  # was counted as one row
    ],
    ids=["parameter sets", "multi-row values"],
)
def test_a_bulk_insert_past_the_limit_is_refused(
    db: Database, statement: Any, params: list[dict[str, Any]] | None
) -> None:
    with tenant_scope(CTX), pytest.raises(QuotaExceeded), db.session() as session:
        session.execute(statement, params)
    with tenant_scope(CTX), db.session() as session:
        assert session.scalar(select(func.count()).select_from(Reading)) == 0


def test_a_bulk_insert_within_the_limit_passes(db: Database) -> None:
    with tenant_scope(CTX), db.session() as session:
        session.execute(insert(Reading).values(_rows(2)))
    with tenant_scope(CTX), db.session() as session:
        assert session.scalar(select(func.count()).select_from(Reading)) == 2


def test_a_limit_of_one_is_said_in_the_singular() -> None:
    one = QuotaExceeded(
        limit="members", allowed=1, current=1, requested=1, plan="Solo", lifted_by=None
    )
    two = QuotaExceeded(
        limit="members", allowed=2, current=2, requested=1, plan="Free", lifted_by=None
    )
    assert one.message.startswith("The Solo plan allows 1 member; this tenant has 1")
    assert two.message.startswith("The Free plan allows 2 members;")


def test_a_refused_downgrade_names_a_row_quota_by_its_table() -> None:
    """It said "allows 500 rows.vouchers", the limit's internal name."""
    refused = PlanChangeRefused(
        plan="Free", over=[{"limit": "rows.vouchers", "allowed": 500, "current": 501, "remove": 1}]
    )
    assert refused.message == (
        "The Free plan allows 500 vouchers, this tenant uses 501: remove 1 first."
    )
