"""Can one tenant starve another? Flood and slow-request probes against a running server.

* :func:`flood`: tenant A floods its heaviest request (the dashboard) with many wrk
  connections while a second wrk (one connection) measures tenant B's readings page;
  the same probe on the idle server first gives the figure to compare with.
* :func:`slow_request`: one request of tenant A runs a query slow on purpose
  (bench/serve_tenantry.py); meanwhile a small Python probe times tenant B's page and
  ``/healthz`` one request after another, against the same probe on the idle server.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from bench.load import finish_wrk, get_script, run_wrk, start_wrk


def flood(
    base: str, flood_token: str, probe_token: str, *, connections: int = 32, seconds: float = 6
) -> dict[str, Any]:
    page = base + "/api/readings?limit=50"
    probe = get_script([probe_token])
    run_wrk(page, probe, seconds=1, connections=1)  # warm-up
    idle = run_wrk(page, probe, seconds=seconds, connections=1)
    flooding = start_wrk(
        base + "/api/dashboard",
        get_script([flood_token]),
        seconds=seconds + 2,
        connections=connections,
    )
    time.sleep(1.0)  # let the flood's backlog build
    loaded = run_wrk(page, probe, seconds=seconds, connections=1)
    flooded = finish_wrk(flooding, seconds + 40)
    return {
        "connections": connections,
        "idle": idle,
        "loaded": loaded,
        "flood": flooded,
        "p99_ratio": loaded["p99_ms"] / idle["p99_ms"],
        "p50_ratio": loaded["p50_ms"] / idle["p50_ms"],
    }


class _Client:
    """One keep-alive HTTP/1.1 connection; times each request."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)

    def get(self, path: str, token: str | None = None) -> tuple[float, int]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        start = time.perf_counter()
        self.conn.request("GET", path, headers=headers)
        resp = self.conn.getresponse()
        resp.read()
        return (time.perf_counter() - start) * 1000, resp.status

    def close(self) -> None:
        self.conn.close()


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


def _idle(base: str, token: str, n: int = 150) -> dict[str, float]:
    client = _Client(base)
    page: list[float] = []
    health: list[float] = []
    try:
        for _ in range(20):
            client.get("/api/readings?limit=50", token)
        for _ in range(n):
            page.append(client.get("/api/readings?limit=50", token)[0])
            health.append(client.get("/healthz")[0])
    finally:
        client.close()
    return {"page_p99_ms": _p99(page), "healthz_p99_ms": _p99(health)}


def _slow(base: str, token: str, n: int) -> tuple[float, int]:
    client = _Client(base)
    try:
        return client.get(f"/api/bench/slow?n={n}", token)
    finally:
        client.close()


def slow_request(
    base: str, slow_token: str, probe_token: str, *, target_s: float, sqlite: bool
) -> dict[str, Any]:
    """Time tenant B's page and ``/healthz`` while tenant A's request takes ``target_s``."""
    if sqlite:  # calibrate the recursive count to about target_s on this machine, now
        n = 1_000_000
        took, _ = _slow(base, slow_token, n)
        n = max(1000, int(n * target_s * 1000 / took))
    else:  # pg_sleep, milliseconds
        n = int(target_s * 1000)
    idle = _idle(base, probe_token)
    result: dict[str, Any] = {}

    def run() -> None:
        result["slow_ms"], result["slow_status"] = _slow(base, slow_token, n)

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.2)
    client = _Client(base)
    page: list[float] = []
    health: list[float] = []
    statuses: set[int] = set()
    try:
        while worker.is_alive():
            took, status = client.get("/api/readings?limit=50", probe_token)
            page.append(took)
            statuses.add(status)
            took, status = client.get("/healthz")
            health.append(took)
            statuses.add(status)
    finally:
        client.close()
        worker.join()
    return {
        **result,
        **idle,
        "page_max_ms": max(page),
        "healthz_max_ms": max(health),
        "probes": len(page),
        "probe_statuses": sorted(statuses),
        "page_ratio": max(page) / idle["page_p99_ms"],
        "healthz_ratio": max(health) / idle["healthz_p99_ms"],
    }
