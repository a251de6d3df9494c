"""What the ORM scoping wall costs per statement, in process, on identical SQL.

Scoped: the hook adds ``tenant_id = :t`` to a plain select. Explicit: the hook is
off and the same filter is written by hand, so SQLite runs the same statement;
the difference is the hook's Python work. Rounds alternate to spread noise.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select

from meterbook.models import Reading
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.ids import TenantId, UserId
from tenantry.roles import Role
from tenantry.testing import scoping_switched_off

PAGE = (
    select(Reading.id, Reading.read_at, Reading.meter_wh, Reading.note)
    .order_by(Reading.read_at.desc())
    .limit(50)
)
EXPLICIT = PAGE.where(Reading.tenant_id == bindparam("t"))


def _run(db: Database, ctx: TenantContext, *, scoped: bool, n: int) -> float:
    """Seconds per statement over ``n`` executions in one session."""
    with tenant_scope(ctx), db.read_sessions() as session:
        start = time.perf_counter()
        for _ in range(n):
            if scoped:
                session.execute(PAGE).all()
            else:
                session.execute(EXPLICIT, {"t": ctx.tenant_id}).all()
        return (time.perf_counter() - start) / n


def measure(path: Path, tenant_hex: str, *, rounds: int = 7, n: int = 2000) -> dict[str, Any]:
    import uuid

    db = Database(f"sqlite:///{path}")
    ctx = TenantContext(TenantId(uuid.UUID(hex=tenant_hex)), UserId(1), Role.OWNER)
    on: list[float] = []
    off: list[float] = []
    _run(db, ctx, scoped=True, n=200)  # warm both statement caches first
    with scoping_switched_off():
        _run(db, ctx, scoped=False, n=200)
    for _ in range(rounds):
        on.append(_run(db, ctx, scoped=True, n=n))
        with scoping_switched_off():
            off.append(_run(db, ctx, scoped=False, n=n))
    db.dispose()
    return {
        "on_us": statistics.median(on) * 1e6,
        "off_us": statistics.median(off) * 1e6,
        "statements": rounds * n,
    }
