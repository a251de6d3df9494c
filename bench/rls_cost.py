"""What PostgreSQL row-level security costs per statement, on identical SQL.

The app role runs the same tenant-filtered select (ORM scoping off, the filter
written by hand) with the readings table's RLS policy enabled and disabled;
rounds alternate. Uses the test suite's throwaway server (tests/support).
"""

from __future__ import annotations

import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select, text
from tests.support.postgres import APP_ROLE, OWNER_ROLE, postgres_server

from meterbook.models import Reading
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.ids import TenantId, UserId
from tenantry.roles import Role
from tenantry.testing import scoping_switched_off
from tenantry_server.app import default_plugins, migrate
from tenantry_server.settings import Settings

PAGE = (
    select(Reading.id, Reading.read_at, Reading.meter_wh, Reading.note)
    .where(Reading.tenant_id == bindparam("t"))
    .order_by(Reading.read_at.desc())
    .limit(50)
)
SEED = text(
    "INSERT INTO readings (tenant_id, id, read_at, meter_wh, note, is_replacement, created_at)"
    " SELECT CAST(:t AS uuid), g, now() - g * interval '1 hour', g * 1000, '', false, now()"
    " FROM generate_series(1, :n) AS g"
)


def _seed(owner: Database, tenants: list[uuid.UUID], rows: int) -> None:
    with owner.engine.begin() as conn:
        for t in tenants:
            conn.execute(
                text("INSERT INTO tenantry_tenants (id, slug, name, kind, plan, status, settings,"
                     " created_at, updated_at) VALUES (:t, :s, 'b', 'personal', 'free', 'active',"
                     " '{}', now(), now())"),
                {"t": t, "s": f"t-{t.hex[:12]}"},
            )  # fmt: skip
            # FORCE RLS binds the owner too: say which tenant the rows are for.
            conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(t)})
            conn.execute(SEED, {"t": str(t), "n": rows})
        conn.execute(text("ANALYZE readings"))


def _run(app: Database, ctx: TenantContext, n: int) -> float:
    with scoping_switched_off(), tenant_scope(ctx), app.sessions() as session:
        start = time.perf_counter()
        for _ in range(n):
            session.execute(PAGE, {"t": ctx.tenant_id}).all()
        return (time.perf_counter() - start) / n


def measure(
    *, tenants: int = 100, rows: int = 1000, rounds: int = 5, n: int = 1000
) -> dict[str, Any]:
    with postgres_server() as server:
        name = server.create_database()
        owner_url, app_url = server.url(OWNER_ROLE, name), server.url(APP_ROLE, name)
        settings = Settings(
            database_url=app_url,
            migration_database_url=owner_url,
            app_role=APP_ROLE,
            data_dir=Path("/tmp"),
            secret_key="r" * 64,
        )
        migrate(settings, default_plugins())
        owner, app = Database(owner_url), Database(app_url)
        ids = [uuid.uuid4() for _ in range(tenants)]
        _seed(owner, ids, rows)
        ctx = TenantContext(TenantId(ids[0]), UserId(1), Role.OWNER)
        on: list[float] = []
        off: list[float] = []
        for _ in range(rounds):
            on.append(_run(app, ctx, n))
            with owner.engine.begin() as conn:
                conn.execute(text("ALTER TABLE readings DISABLE ROW LEVEL SECURITY"))
            off.append(_run(app, ctx, n))
            with owner.engine.begin() as conn:
                conn.execute(text("ALTER TABLE readings ENABLE ROW LEVEL SECURITY"))
        app.dispose()
        owner.dispose()
        server.drop_database(name)
    return {
        "on_us": statistics.median(on) * 1e6,
        "off_us": statistics.median(off) * 1e6,
        "rows": tenants * rows,
    }


if __name__ == "__main__":
    print(measure())
