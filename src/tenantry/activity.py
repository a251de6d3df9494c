"""Requests per tenant and month, and when each tenant was last active.

Counted in memory per process and added to ``tenantry_tenant_activity`` in one
upsert per tenant every ``interval`` seconds, so a request costs no write; each
worker adds its own counts, so several processes sum correctly.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tenantry.models import TenantActivity
from tenantry.models.tenant import existing_tenant_ids


def period_of(moment: datetime) -> str:
    return f"{moment:%Y-%m}"


class ActivityCounter:
    """Requests per tenant since the last flush."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._counts: dict[uuid.UUID, int] = {}
        self._last: dict[uuid.UUID, datetime] = {}
        self._lock = threading.Lock()
        self._flushed = time.monotonic()

    def count(self, tenant_id: uuid.UUID) -> None:
        with self._lock:
            self._counts[tenant_id] = self._counts.get(tenant_id, 0) + 1
            self._last[tenant_id] = datetime.now(UTC)

    def due(self) -> bool:
        return bool(self._counts) and time.monotonic() - self._flushed >= self.interval

    def flush(self, session: Session) -> int:
        """Add the pending counts to the table (the caller commits); returns the tenants written."""
        with self._lock:
            counts, last = self._counts, self._last
            self._counts, self._last = {}, {}
            self._flushed = time.monotonic()
        if not counts:
            return 0
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        # A tenant deleted since it was counted: its count goes with it.
        alive = existing_tenant_ids(session, counts)
        rows = [
            {
                "tenant_id": tenant_id,
                "period": period_of(last[tenant_id]),
                "requests": n,
                "last_active_at": last[tenant_id],
            }
            for tenant_id, n in counts.items()
            if tenant_id in alive
        ]
        if rows:  # one statement, compiled once, executed for every tenant
            stmt = insert(TenantActivity)
            stmt = stmt.on_conflict_do_update(
                index_elements=["tenant_id", "period"],
                set_={
                    "requests": TenantActivity.requests + stmt.excluded.requests,
                    "last_active_at": stmt.excluded.last_active_at,
                },
            )
            session.execute(stmt, rows)
        return len(counts)


def activity_of(
    session: Session, tenant_ids: Iterable[uuid.UUID], now: datetime | None = None
) -> dict[uuid.UUID, tuple[int, datetime | None]]:
    """``(requests this month, last active)`` of each tenant; unknown tenants are left out."""
    ids = list(tenant_ids)
    if not ids:
        return {}
    period = period_of(now or datetime.now(UTC))
    rows = session.execute(
        select(
            TenantActivity.tenant_id,
            TenantActivity.period,
            TenantActivity.requests,
            TenantActivity.last_active_at,
        ).where(TenantActivity.tenant_id.in_(ids))
    )
    out: dict[uuid.UUID, tuple[int, datetime | None]] = {}
    for tenant_id, row_period, requests, last in rows:
        count, seen = out.get(tenant_id, (0, None))
        if row_period == period:
            count += requests
        out[tenant_id] = (count, last if seen is None or last > seen else seen)
    return out
