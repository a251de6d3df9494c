"""What usage metering costs on the request path: the same server with metering on and off.

Two apps on one SQLite database differ only in ``TenancyConfig.metering``. Each
round sends ``n`` requests for a page of 50 readings through the whole ASGI
stack (in process, httpx's ASGI transport: no sockets, no second process), on
and off alternately to spread noise. The ratio of medians is the cost; the
per-call cost of ``UsageMeter.add`` is timed too. The flushes happen in their
own thread every interval and are not on the request path.

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
    member = register(TestClient(app), "bench@example.com", password=PASSWORD)
    tenancy = app.state.tenancy
    ctx = TenantContext(TenantId(uuid.UUID(member.tenant_id)), UserId(member.user_id), Role.OWNER)
    start = datetime.now(UTC) - timedelta(days=readings)
    with tenant_scope(ctx), tenancy.db.session() as session:
        session.add_all(
            Reading(read_at=start + timedelta(days=i), meter_wh=1000 * i) for i in range(readings)
        )
    return member.headers


async def _round(app: FastAPI, headers: dict[str, str], n: int) -> float:
    """Seconds per request over ``n`` sequential requests."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        started = time.perf_counter()
        for _ in range(n):
            response = await client.get("/api/readings?limit=50", headers=headers)
            assert response.status_code == 200, response.text
        return (time.perf_counter() - started) / n


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


async def _measure(directory: Path, rounds: int, n: int) -> dict[str, Any]:
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
    for app in (on_app, off_app):
        await _round(app, headers, 50)  # warm caches
    on: list[float] = []
    off: list[float] = []
    for _ in range(rounds):
        on.append(await _round(on_app, headers, n))
        off.append(await _round(off_app, headers, n))
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
        "rounds": rounds,
        "requests_per_round": n,
        "counters_flushed_after": flushed,
    }


def measure(*, rounds: int = 5, n: int = 150) -> dict[str, Any]:
    """Run the comparison in a temporary directory; return the figures."""
    with tempfile.TemporaryDirectory(prefix="metering-bench-") as tmp:
        return asyncio.run(_measure(Path(tmp), rounds, n))


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
