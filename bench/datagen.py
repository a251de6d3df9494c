"""Write meterbook data straight into a migrated database with sqlite3 (fast, no ORM).

Tenant 0 is the one the read benchmarks query, tenants 1 and 2 take the writes
(one for tenantry, one for the baseline); each of the three has ``focus_rows``
readings so every size measures the same page over the same tenant. The other
tenants share the remaining rows. Rows are inserted interleaved by day across
tenants, as a live database would hold them.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tenantry_server.app import default_plugins, migrate
from tenantry_server.settings import Settings

EPOCH = datetime(2020, 1, 1, 6, 0, 0)
STAMP = "%Y-%m-%d %H:%M:%S.%f"
CHUNK = 50_000


@dataclass(frozen=True)
class Fixture:
    path: Path
    tenant_ids: list[str]  # 32-char hex, as SQLAlchemy's Uuid stores them on SQLite
    user_ids: list[int]
    rows: int

    def tenant_uuid(self, i: int) -> uuid.UUID:
        return uuid.UUID(hex=self.tenant_ids[i])


def migrated(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = Settings(database_url=f"sqlite:///{path}", secret_key="x" * 40)
    migrate(settings, default_plugins())


def _ts(day: int) -> str:
    return (EPOCH + timedelta(days=day, seconds=day % 3600)).strftime(STAMP)


def generate(path: Path, tenants: int, total_rows: int, focus_rows: int = 1_000) -> Fixture:
    """A database of ``tenants`` households and about ``total_rows`` readings."""
    migrated(path)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-1000000")
    now = datetime.now(UTC).replace(tzinfo=None).strftime(STAMP)
    tenant_ids = [uuid.uuid4().hex for _ in range(tenants)]
    focus = min(3, tenants)
    rest = max(0, total_rows - focus * focus_rows)
    filler = rest // max(1, tenants - focus) if tenants > focus else 0
    counts = [focus_rows] * focus + [filler] * (tenants - focus)
    con.execute("BEGIN")
    con.executemany(
        "INSERT INTO tenantry_tenants (id, slug, name, kind, plan, status, settings,"
        " created_at, updated_at) VALUES (?, ?, ?, 'personal', 'free', 'active', '{}', ?, ?)",
        ((t, f"home-{i}", f"Home {i}", now, now) for i, t in enumerate(tenant_ids)),
    )
    con.executemany(
        "INSERT INTO tenantry_users (id, email, password_hash, display_name,"
        " is_platform_admin, created_at) VALUES (?, ?, 'x', ?, 0, ?)",
        ((i + 1, f"user{i}@bench.test", f"User {i}", now) for i in range(tenants)),
    )
    con.executemany(
        "INSERT INTO tenantry_memberships (tenant_id, user_id, role, joined_at)"
        " VALUES (?, ?, 'owner', ?)",
        ((t, i + 1, now) for i, t in enumerate(tenant_ids)),
    )
    con.execute("COMMIT")

    def rows() -> Iterator[tuple[object, ...]]:
        for day in range(max(counts)):
            stamp = _ts(day)
            active = tenant_ids if day < filler else tenant_ids[:focus]
            for i, t in enumerate(active):
                if day < counts[i]:
                    # ~9 kWh a day, a note now and then
                    yield (t, day + 1, stamp, 20_000_000 + day * 9_000 + i % 7, "", 0, i + 1, now)

    sql = (
        "INSERT INTO readings (tenant_id, id, read_at, meter_wh, note, is_replacement,"
        " user_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    batch: list[tuple[object, ...]] = []
    written = 0
    for row in rows():
        batch.append(row)
        if len(batch) >= CHUNK:
            con.execute("BEGIN")
            con.executemany(sql, batch)
            con.execute("COMMIT")
            written += len(batch)
            batch.clear()
    if batch:
        con.execute("BEGIN")
        con.executemany(sql, batch)
        con.execute("COMMIT")
        written += len(batch)
    con.execute("ANALYZE")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return Fixture(path, tenant_ids, list(range(1, tenants + 1)), written)


def single_tenant_rows(path: Path, rows_per_tenant: list[int]) -> Fixture:
    """Tenants with exactly the given row counts (export and scoping benchmarks)."""
    migrated(path)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-1000000")
    now = datetime.now(UTC).replace(tzinfo=None).strftime(STAMP)
    tenant_ids = [uuid.uuid4().hex for _ in rows_per_tenant]
    con.execute("BEGIN")
    for i, t in enumerate(tenant_ids):
        con.execute(
            "INSERT INTO tenantry_tenants (id, slug, name, kind, plan, status, settings,"
            " created_at, updated_at) VALUES (?, ?, ?, 'personal', 'free', 'active', '{}', ?, ?)",
            (t, f"home-{i}", f"Home {i}", now, now),
        )
        con.execute(
            "INSERT INTO tenantry_users (id, email, password_hash, display_name,"
            " is_platform_admin, created_at) VALUES (?, ?, 'x', ?, 0, ?)",
            (i + 1, f"user{i}@bench.test", f"User {i}", now),
        )
        con.execute(
            "INSERT INTO tenantry_memberships (tenant_id, user_id, role, joined_at)"
            " VALUES (?, ?, 'owner', ?)",
            (t, i + 1, now),
        )
    con.execute("COMMIT")
    sql = (
        "INSERT INTO readings (tenant_id, id, read_at, meter_wh, note, is_replacement,"
        " user_id, created_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)"
    )
    written = 0
    for i, (t, n) in enumerate(zip(tenant_ids, rows_per_tenant, strict=True)):
        start = 0
        while start < n:
            end = min(n, start + CHUNK)
            con.execute("BEGIN")
            con.executemany(
                sql,
                (
                    (t, k + 1, _ts(k), 20_000_000 + k * 9_000, "monthly check", i + 1, now)
                    for k in range(start, end)
                ),
            )
            con.execute("COMMIT")
            written += end - start
            start = end
    con.execute("ANALYZE")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return Fixture(path, tenant_ids, list(range(1, len(tenant_ids) + 1)), written)
