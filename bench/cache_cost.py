"""The dashboard with and without the tenant cache, in process, on the benchmark fixture.

Uncached: the insights computed in SQL and rendered, as ``/api/dashboard`` does on a
miss. Cached: the same call through ``TenantCache.get_or_set`` after one miss, with the
in-process backend and (when ``redis-server`` is installed) a real Redis. Rounds
alternate to spread noise. ``python -m bench.cache_cost [fixture.db]``.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meterbook.api.dashboard import dashboard_out
from meterbook.api.responses import Json
from meterbook.services.insights import dashboard
from tenantry.cache import CacheBackend, MemoryBackend, TenantCache
from tenantry.cache.redis_backend import RedisBackend
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.ids import TenantId, UserId
from tenantry.roles import Role


def _per_call(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def _measure(
    db: Database, ctx: TenantContext, backend: CacheBackend, rounds: int, n: int
) -> dict[str, float]:
    cache = TenantCache(backend)
    with tenant_scope(ctx), db.read_sessions() as session:

        def compute() -> bytes:
            return bytes(Json(dashboard_out(dashboard(session, None, None))).body)

        def cached() -> bytes:
            return cache.get_or_set("dashboard", compute, 600, tags=("readings",))

        cached()  # the one miss
        off = [_per_call(compute, max(1, n // 20)) for _ in range(rounds)]
        on = [_per_call(cached, n) for _ in range(rounds)]
    return {"uncached_ms": statistics.median(off) * 1e3, "cached_ms": statistics.median(on) * 1e3}


def measure(path: Path, tenant_hex: str, *, rounds: int = 3, n: int = 500) -> dict[str, Any]:
    db = Database(f"sqlite:///{path}")
    ctx = TenantContext(TenantId(uuid.UUID(hex=tenant_hex)), UserId(1), Role.OWNER)
    result: dict[str, Any] = {"memory": _measure(db, ctx, MemoryBackend(), rounds, n)}
    try:
        from tests.support.redis import RedisUnavailable, redis_server
    except ImportError:  # running outside the repository
        db.dispose()
        return result
    try:
        with redis_server() as server:
            backend = RedisBackend(server.url)
            result["redis"] = _measure(db, ctx, backend, rounds, n)
            backend.close()
    except RedisUnavailable as exc:
        result["redis_error"] = str(exc)
    db.dispose()
    return result


if __name__ == "__main__":
    from bench.datagen import generate

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/tenantry-bench/cache.db")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    fixture = generate(target, tenants=100, total_rows=30_000)
    print(measure(target, fixture.tenant_ids[0]))
