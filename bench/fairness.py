"""Can one tenant starve another? Flood and slow-request probes against a running server.

* :func:`flood`: tenant A floods a request (its heaviest, the dashboard, run in a
  worker thread; or the readings page, read on the event loop) with many wrk
  connections while a Python probe (one connection, one request after another, in
  this process) times tenant B's readings page; the same probe on the idle server
  first gives the figure to compare with. Unlike a second wrk, the probe waits for a
  request still running at the end, so a starved request counts with its full wait.
* :func:`slow_request`: one request of tenant A runs a query slow on purpose
  (bench/serve_tenantry.py); meanwhile a small Python probe times tenant B's page and
  ``/healthz`` one request after another, against the same probe on the idle server.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from bench.load import finish_wrk, get_script, start_wrk

# The dashboard is cached per household and period (meterbook's tenant cache, on disk in
# the server's data directory, so it outlives a server): a flood of one URL would measure
# cache hits. Each flood request asks a period of its own instead (the whole history, up
# to a different last day), never asked before in this bench process.
_PERIODS_PER_FLOOD = 20_000
_floods = 0


def dashboard_periods() -> list[str]:
    """Dashboard URLs of periods no earlier flood of this process asked."""
    global _floods
    _floods += 1
    first = date(2030, 1, 1) + timedelta(days=_floods * _PERIODS_PER_FLOOD)
    return [
        f"/api/dashboard?from=2000-01-01&to={first + timedelta(days=i)}"
        for i in range(_PERIODS_PER_FLOOD)
    ]


def flood(
    base: str,
    flood_token: str,
    probe_token: str,
    *,
    connections: int = 32,
    seconds: float = 6,
    path: str = "/api/dashboard",
) -> dict[str, Any]:
    """B's page, idle and under A's flood of ``path`` (one probe connection, sequential);
    the dashboard flood rotates over :func:`dashboard_periods`, so no request is a hit."""
    _Client(base).warm("/api/readings?limit=50", probe_token)
    idle = probe_for(base, "/api/readings?limit=50", probe_token, seconds)
    paths = dashboard_periods() if path == "/api/dashboard" else ()
    flooding = start_wrk(
        base + path,
        get_script([flood_token], paths),
        seconds=seconds + 2,
        connections=connections,
    )
    time.sleep(1.0)  # let the flood's backlog build
    loaded = probe_for(base, "/api/readings?limit=50", probe_token, seconds)
    flooded = finish_wrk(flooding, seconds + 40)
    return {
        "connections": connections,
        "path": path,
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
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=120)

    def get(self, path: str, token: str | None = None) -> tuple[float, int]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        start = time.perf_counter()
        self.conn.request("GET", path, headers=headers)
        resp = self.conn.getresponse()
        resp.read()
        return (time.perf_counter() - start) * 1000, resp.status

    def warm(self, path: str, token: str | None, n: int = 20) -> None:
        for _ in range(n):
            self.get(path, token)
        self.close()

    def close(self) -> None:
        self.conn.close()


def _summary(times: list[float], statuses: list[int]) -> dict[str, Any]:
    """p50, p99 and max in ms; a request still running at the end is waited for, not dropped."""
    ordered = sorted(times)
    return {
        "requests": len(times),
        "p50_ms": statistics.median(ordered),
        "p99_ms": statistics.quantiles(ordered, n=100)[98] if len(ordered) > 1 else ordered[0],
        "max_ms": ordered[-1],
        "non_2xx": sum(1 for s in statuses if not 200 <= s < 300),
    }


def _loop(base: str, path: str, token: str | None, done: Callable[[], bool]) -> dict[str, Any]:
    client = _Client(base)
    times: list[float] = []
    statuses: list[int] = []
    try:
        while not done() or not times:
            took, status = client.get(path, token)
            times.append(took)
            statuses.append(status)
    finally:
        client.close()
    return _summary(times, statuses)


def probe_for(base: str, path: str, token: str | None, seconds: float) -> dict[str, Any]:
    """Request ``path`` one after another for ``seconds`` (the last one is waited for)."""
    end = time.monotonic() + seconds
    return _loop(base, path, token, lambda: time.monotonic() >= end)


def _slow(base: str, token: str, n: int) -> tuple[float, int]:
    client = _Client(base)
    try:
        return client.get(f"/api/bench/slow?n={n}", token)
    finally:
        client.close()


def _both(base: str, token: str, done: Callable[[], bool]) -> dict[str, dict[str, Any]]:
    """B's page and ``/healthz``, each on its own connection in its own thread."""
    out: dict[str, dict[str, Any]] = {}

    def run(key: str, path: str, tok: str | None) -> None:
        out[key] = _loop(base, path, tok, done)

    threads = [
        threading.Thread(target=run, args=("page", "/api/readings?limit=50", token)),
        threading.Thread(target=run, args=("healthz", "/healthz", None)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


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
    _Client(base).warm("/api/readings?limit=50", probe_token)
    end = time.monotonic() + 3
    idle = _both(base, probe_token, lambda: time.monotonic() >= end)
    result: dict[str, Any] = {}

    def run() -> None:
        result["slow_ms"], result["slow_status"] = _slow(base, slow_token, n)

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.2)
    during = _both(base, probe_token, lambda: not worker.is_alive())
    worker.join()
    return {
        **result,
        "n": n,
        "idle": idle,
        "during": during,
        "page_ratio": during["page"]["max_ms"] / idle["page"]["p99_ms"],
        "healthz_ratio": during["healthz"]["max_ms"] / idle["healthz"]["p99_ms"],
    }
