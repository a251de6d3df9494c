"""A tenant's use against its limits, for the plan API, the household page and the console."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Enum, String, Table, func, inspect, literal, select
from sqlalchemy.orm import Session

from tenantry.export import tenant_mappers
from tenantry.models import UsageCounter
from tenantry.plans.catalogue import MEMBERS, STORAGE_BYTES, Catalogue
from tenantry.plans.entitlements import Entitlements, load_entitlements
from tenantry.plans.metering import (
    METERED_LIMITS,
    UsageMeter,
    period_end,
    period_start,
)
from tenantry.plans.quotas import count_members, count_rows, quota_models, quota_of

# Bytes counted per row for a non-text column in the storage estimate.
FIXED_WIDTH = 8


@dataclass(frozen=True, slots=True)
class Gauge:
    """One limit and its use: ``state`` is ``ok``, ``warning`` (80 %+), ``full`` or ``over``."""

    limit: str
    used: int
    allowed: int | None

    @property
    def percent(self) -> float | None:
        if self.allowed is None:
            return None
        if self.allowed == 0:
            return 100.0 if self.used == 0 else 100.0 + self.used
        return round(100 * self.used / self.allowed, 1)

    @property
    def state(self) -> str:
        if self.allowed is None:
            return "ok"
        if self.used > self.allowed:
            return "over"
        if self.used >= self.allowed:
            return "full"
        return "warning" if self.used >= 0.8 * self.allowed else "ok"


@dataclass(frozen=True, slots=True)
class TableStorage:
    table: str
    rows: int
    bytes: int


@dataclass(frozen=True, slots=True)
class UsageReport:
    entitlements: Entitlements
    period_start: date
    period_end: date
    metered: dict[str, int]
    storage: list[TableStorage]
    gauges: list[Gauge]

    @property
    def storage_bytes(self) -> int:
        return sum(t.bytes for t in self.storage)

    def gauge(self, limit: str) -> Gauge | None:
        return next((g for g in self.gauges if g.limit == limit), None)

    @property
    def alerts(self) -> list[Gauge]:
        """Gauges at 80 % or more: what a banner should mention."""
        return [g for g in self.gauges if g.state != "ok"]


def _storage(session: Session, present: set[str]) -> list[TableStorage]:
    """Rows and an estimate of bytes per tenant table (text lengths + 8 per other column).

    Mapped tables this database does not have (another app's models imported in the
    same process) are left out rather than failing the report.
    """
    found = []
    for mapper in tenant_mappers():
        table = mapper.local_table
        assert isinstance(table, Table)
        if table.name not in present:
            continue
        width: Any = literal(0)
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            if column.key == "tenant_id" or column.table is not table:
                continue
            # An Enum is a String to SQLAlchemy, but a type of its own on PostgreSQL,
            # which has no length() for it (the report failed: GET /api/tenant/plan 500).
            # The mapped attribute, not the Core column: scoping refuses Core names.
            if isinstance(column.type, String) and not isinstance(column.type, Enum):
                attribute = getattr(mapper.class_, prop.key)
                width = width + func.coalesce(func.length(attribute), 0)
            else:
                width = width + FIXED_WIDTH
        rows, size = session.execute(
            select(func.count(), func.coalesce(func.sum(width), 0)).select_from(mapper.class_)
        ).one()
        found.append(TableStorage(table.name, int(rows), int(size)))
    return found


def usage_report(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    catalogue: Catalogue | None = None,
    meter: UsageMeter | None = None,
    storage: bool = True,
) -> UsageReport:
    """The tenant's use this period (flushed counts plus this process's pending ones).

    Run it inside the tenant's scope: rows and storage are counted like any query.
    """
    ents = load_entitlements(session, tenant_id, catalogue=catalogue)
    start = period_start()
    metered = {
        metric: int(value)
        for metric, value in session.execute(
            select(UsageCounter.metric, UsageCounter.value).where(
                UsageCounter.tenant_id == tenant_id, UsageCounter.period_start == start
            )
        )
    }
    if meter is not None:
        for metric, value in meter.pending(tenant_id, start).items():
            metered[metric] = metered.get(metric, 0) + value
    # Only tables this database has: another app's models may be imported in the process.
    present = set(inspect(session.connection()).get_table_names())
    tables = _storage(session, present) if storage else []
    gauges = [Gauge(MEMBERS, count_members(session, tenant_id), ents.limit(MEMBERS))]
    limits = sorted(
        {quota_of(c) or "" for c in quota_models() if getattr(c, "__tablename__", "") in present}
    )
    gauges += [Gauge(limit, count_rows(session, limit), ents.limit(limit)) for limit in limits]
    gauges += [
        Gauge(limit, metered.get(metric, 0), ents.limit(limit))
        for metric, limit in METERED_LIMITS.items()
    ]
    if storage:
        gauges.append(Gauge(STORAGE_BYTES, sum(t.bytes for t in tables), ents.limit(STORAGE_BYTES)))
    return UsageReport(ents, start, period_end(start), metered, tables, gauges)
