"""What usage metering costs on the request path: the same server with metering on and off.

Two apps on one SQLite database differ only in ``TenancyConfig.metering``. Both
answer ``n`` requests for a page of 50 readings through the whole ASGI stack (in
process, httpx's ASGI transport: no sockets, no second process), interleaved
request by request so the machine's drift hits both alike. The ratio of the
median latencies is the cost; the per-call cost of ``UsageMeter.add`` is timed
too. The flushes happen in their own thread every interval, off the request path.

    python -m bench.metering_cost            # prints JSON
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from meterbook.models import Reading
from tenantry.context import TenantContext, tenant_scope
from tenantry.ids import TenantId, UserId
from tenantry.plans import UsageMeter
from tenantry.roles import Role
from tenantry.security.passwords import Passwords, fast_test_hasher
from tenantry.testing import register
from tenantry_server.app import create_app, default_plugins, migrate
from tenantry_server.settings import Settings

PASSWORD = "correct horse battery"


def _app(settings: Settings, *, metering: bool) -> FastAPI:
    app = create_app(settings, default_plugins(), passwords=Passwords(fast_test_hasher()))
    tenancy = app.state.tenancy
    if not metering:
        tenancy.config = dataclasses.replace(tenancy.config, metering=False)
        tenancy.meter.enabled = False
    return app


async def _seed(app: FastAPI, readings: int) -> dict[str, str]:
    # Sign-up confirms the address by mail: tenantry.testing follows the outbox link.
    with TestClient(app) as client:  # the lifespan runs the job service: the mail leaves
        member = register(client, "bench@example.com", password=PASSWORD)
    tenancy = app.state.tenancy
    ctx = TenantContext(TenantId(uuid.UUID(member.tenant_id)), UserId(member.user_id), Role.OWNER)
    start = datetime.now(UTC) - timedelta(days=readings)
    with tenant_scope(ctx), tenancy.db.session() as session:
        session.add_all(
            Reading(read_at=start + timedelta(days=i), meter_wh=1000 * i) for i in range(readings)
        )
    return member.headers


async def _latencies(
    apps: tuple[FastAPI, FastAPI], headers: dict[str, str], n: int
) -> tuple[list[float], list[float]]:
    """Per-request seconds for each app, the two interleaved request by request."""
    times: tuple[list[float], list[float]] = ([], [])
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[0]), base_url="http://b") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[1]), base_url="http://b") as b,
    ):
        clients = (a, b)
        for i in range(n):
            # Alternate which goes first: the second of a pair runs on a warmer cache.
            for which in (0, 1) if i % 2 else (1, 0):
                started = time.perf_counter()
                response = await clients[which].get("/api/readings?limit=50", headers=headers)
                times[which].append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
    return times


def _add_cost(calls: int = 200_000) -> float:
    """Nanoseconds per ``UsageMeter.add`` (the only work metering adds to a request)."""
    meter = UsageMeter(None, interval=3600)
    meter.enabled = True
    meter._thread = object()  # type: ignore[assignment]  # no flush thread in a timing loop
    tenant = uuid.uuid4()
    started = time.perf_counter()
    for _ in range(calls):
        meter.add(tenant, "requests")
    return (time.perf_counter() - started) / calls * 1e9


async def _measure(directory: Path, n: int) -> dict[str, Any]:
    settings = Settings(
        database_url=f"sqlite:///{directory / 'metering.sqlite3'}",
        data_dir=directory,
        secret_key="m" * 48,
        rate_limit_storage="memory://",
        request_budgets=False,  # thousands of requests a minute from one tenant: no 429
        user_rate="1000000/minute",
    )
    migrate(settings, default_plugins())
    on_app = _app(settings, metering=True)
    off_app = _app(settings, metering=False)
    headers = await _seed(on_app, 365)
    await _latencies((on_app, off_app), headers, 100)  # warm caches
    on, off = await _latencies((on_app, off_app), headers, n)
    flushed = on_app.state.tenancy.meter.flush()
    for app in (on_app, off_app):
        app.state.tenancy.meter.close()
        app.state.tenancy.db.dispose()
    on_ms, off_ms = statistics.median(on) * 1e3, statistics.median(off) * 1e3
    add_ns = _add_cost()
    return {
        "metering_on_ms": round(on_ms, 3),
        "metering_off_ms": round(off_ms, 3),
        "ratio": round(on_ms / off_ms, 4),
        "add_ns": round(add_ns, 1),
        # One add per request: its share of the request (the ratio above is noisier).
        "add_share_percent": round(add_ns / (off_ms * 1e6) * 100, 4),
        "requests": n,
        "counters_flushed_after": flushed,
    }


def measure(*, n: int = 2000) -> dict[str, Any]:
    """Run the comparison in a temporary directory; return the figures."""
    with tempfile.TemporaryDirectory(prefix="metering-bench-") as tmp:
        return asyncio.run(_measure(Path(tmp), n))


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
