"""The orchestrator: ``python -m bench.run`` (or ``make bench``).

Generates the fixtures, starts each server on 127.0.0.1 in its own process, loads
it with wrk (another process), and writes ``bench/results.json`` and
``docs/benchmarks.md``. Sizes are environment variables so a longer run can use
the full 10M rows: BENCH_SIZES="10:10000,1000:100000,100000:1000000",
BENCH_SECONDS (per wrk run), BENCH_CONNECTIONS, BENCH_EXPORT_ROWS="100000,1000000".
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.datagen import Fixture, generate, single_tenant_rows
from bench.load import get_script, post_script, run_wrk
from tenantry.roles import Role
from tenantry.security.tokens import TokenService

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("BENCH_DATA", "/tmp/tenantry-bench"))
SECRET = "bench-" + "k" * 40
SIZES = [
    tuple(int(x) for x in part.split(":"))
    for part in os.environ.get("BENCH_SIZES", "10:10000,1000:100000,100000:1000000").split(",")
]
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "4"))
EXPORT_ROWS = [int(x) for x in os.environ.get("BENCH_EXPORT_ROWS", "100000,1000000").split(",")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kb(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


@contextmanager
def server(kind: str, db: Path):  # type: ignore[no-untyped-def]
    port = _free_port()
    env = dict(os.environ, BENCH_DB=str(db), BENCH_SECRET=SECRET)
    env.update(
        DATABASE_URL=f"sqlite:///{db}",
        TENANTRY_SECRET_KEY=SECRET,
        TENANTRY_DATA_DIR=str(DATA / "var"),
    )
    if kind == "tenantry":
        cmd = [sys.executable, "-m", "bench.serve_tenantry", str(port)]
    else:
        cmd = [
            sys.executable, "-m", "uvicorn", "bench.baseline_app:app", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{kind} server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/api/readings", proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def token(fx: Fixture, i: int) -> str:
    tok, _ = TokenService(SECRET, access_ttl=__import__("datetime").timedelta(hours=2)).issue(
        user_id=fx.user_ids[i], tenant_id=fx.tenant_uuid(i), role=Role.OWNER
    )
    return tok


def load(url: str, tok: str, *, post: bool = False, seconds: int = SECONDS) -> dict[str, float]:
    get = get_script([tok])
    run_wrk(url + "?limit=50", get, seconds=1, connections=CONNECTIONS)  # warm-up
    if post:
        return run_wrk(url, post_script(tok), seconds=seconds, connections=CONNECTIONS, threads=2)
    return run_wrk(url + "?limit=50", get, seconds=seconds, connections=CONNECTIONS)


def export(mode: str, fx: Fixture, i: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.export_worker", mode, str(fx.path), fx.tenant_ids[i],
         str(fx.user_ids[i])],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=600,
    ).stdout  # fmt: skip
    data: dict[str, float] = json.loads(out)
    data["rows_per_s"] = data["rows"] / data["seconds"]
    return data


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    config = {"sizes": SIZES, "seconds": SECONDS, "connections": CONNECTIONS}
    res: dict[str, Any] = {"config": {**config, "export_rows": EXPORT_ROWS}}
    t = time.monotonic()
    fixtures = [generate(DATA / f"t{n}.db", n, rows) for n, rows in SIZES]
    res["generate_s"] = time.monotonic() - t
    res["fixture_rows"] = [f.rows for f in fixtures]
    big = fixtures[-1]
    print(f"fixtures in {res['generate_s']:.0f}s", flush=True)

    # 1 + 6: request path on the largest database, and server memory.
    for kind in ("tenantry", "bare"):
        with server(kind, big.path) as (url, pid):
            idle = _rss_kb(pid)
            get = load(url, token(big, 0))
            busy = _rss_kb(pid)
            post = load(url, token(big, 1 if kind == "tenantry" else 2), post=True)
            peak = _rss_kb(pid, "VmHWM")
            res[kind] = {"get": get, "post": post, "rss_idle_mb": idle / 1024,
                         "rss_load_mb": busy / 1024, "rss_peak_mb": peak / 1024}  # fmt: skip
        print(kind, res[kind], flush=True)

    # 2: tenant scaling, same tenant (same row count) in each database.
    res["scaling"] = {}
    for (n, _), fx in zip(SIZES[:-1], fixtures[:-1], strict=True):
        with server("tenantry", fx.path) as (url, _pid):
            res["scaling"][str(n)] = load(url, token(fx, 0))
    res["scaling"][str(SIZES[-1][0])] = res["tenantry"]["get"]
    print("scaling", res["scaling"], flush=True)

    # 3: ORM scoping on vs off per statement, identical SQL (bench/isolation_cost.py).
    from bench.isolation_cost import measure

    res["scoping"] = measure(big.path, big.tenant_ids[0])
    print("scoping", res["scoping"], flush=True)

    # 3 (PostgreSQL): RLS policy on vs off per statement, identical SQL (bench/rls_cost.py).
    try:
        from bench.rls_cost import measure as measure_rls

        res["rls"] = measure_rls()
    except Exception as exc:  # no PostgreSQL binaries here: say so in the report
        res["rls"] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
    print("rls", res["rls"], flush=True)

    # 4: tenantize vs a hand-written backfill on the 1.1M-row electricity fixture.
    from bench.tenantize import measure as measure_tenantize

    res["tenantize"] = measure_tenantize("large", DATA / "tenantize")
    print("tenantize", res["tenantize"], flush=True)

    # 5: export, tenants of each size in one database.
    ex = single_tenant_rows(DATA / "export.db", EXPORT_ROWS)
    res["export"] = {
        str(n): {"tenantry": export("tenantry", ex, i), "bare": export("bare", ex, i)}
        for i, n in enumerate(EXPORT_ROWS)
    }
    print("export", res["export"], flush=True)

    res["elapsed_s"] = time.monotonic() - started
    res["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": __import__("sqlite3").sqlite_version,
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0],
    }
    (ROOT / "bench" / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    from bench.report import write_report

    notes = ROOT / "bench" / "notes.md"
    write_report(res, ROOT / "docs" / "benchmarks.md", notes.read_text() if notes.exists() else "")
    print(f"done in {res['elapsed_s']:.0f}s", flush=True)


if __name__ == "__main__":
    main()
