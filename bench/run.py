"""The orchestrator: ``python -m bench.run`` (or ``make bench``).

Generates the fixtures, starts each server on 127.0.0.1 in its own process, loads
it with wrk (another process), and writes ``bench/results.json`` and
``docs/benchmarks.md``. Sizes are environment variables so a longer run can use
the full 10M rows: BENCH_SIZES="10:10000,1000:100000,100000:1000000",
BENCH_SECONDS (per figure), BENCH_ROUNDS (the turns a compared figure is split into),
BENCH_CONNECTIONS, BENCH_EXPORT_ROWS="100000,1000000",
BENCH_TOKENS (how many tenants' tokens a GET run rotates over), BENCH_DATA (work dir).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from tests.support.postgres import APP_ROLE

from bench.datagen import Fixture, generate, single_tenant_rows
from bench.fairness import flood, slow_request
from bench.load import get_script, post_script, run_wrk
from bench.servers import ROOT, Running, Starter, free_port, rss_kb, running, uvicorn_cmd
from tenantry.roles import Role
from tenantry.security.tokens import TokenService

if TYPE_CHECKING:
    from bench.pg_data import PgFixture

DATA = Path(os.environ.get("BENCH_DATA", "/tmp/tenantry-bench"))
SECRET = "bench-" + "k" * 40
SIZES = [
    tuple(int(x) for x in part.split(":"))
    for part in os.environ.get("BENCH_SIZES", "10:10000,1000:100000,100000:1000000").split(",")
]
SECONDS = int(os.environ.get("BENCH_SECONDS", "6"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))  # turns of the compared servers
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "4"))
# Two-worker rows: each worker listens on a socket of its own and the kernel hashes every
# new connection to one of them, so 4 connections split 4/0 or 3/1 in 5 runs of 8;
# at 16 each worker gets 5-11 of them in 92 runs of 100.
WORKER_CONNECTIONS = 16
TOKENS = int(os.environ.get("BENCH_TOKENS", "1000"))
FLOOD = int(os.environ.get("BENCH_FLOOD_CONNECTIONS", "32"))
EXPORT_ROWS = [int(x) for x in os.environ.get("BENCH_EXPORT_ROWS", "100000,1000000").split(",")]
_TOKENS = TokenService(SECRET, access_ttl=timedelta(hours=2))


def token(fx: Fixture, i: int) -> str:
    tok, _ = _TOKENS.issue(user_id=fx.user_ids[i], tenant_id=fx.tenant_uuid(i), role=Role.OWNER)
    return tok


def rotation(fx: Fixture, count: int = TOKENS) -> list[str]:
    """Tokens of ``count`` tenants spread evenly over the whole fixture."""
    n = len(fx.tenant_ids)
    picks = sorted({k * n // min(count, n) for k in range(min(count, n))})
    return [token(fx, i) for i in picks]


def _env(db_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": db_url,
        "TENANTRY_SECRET_KEY": SECRET,
        "TENANTRY_DATA_DIR": str(DATA / "var"),
        "BENCH_SECRET": SECRET,
        **extra,
    }


# Rate limits (per tenant and per user, shipped at 1200 and 600 a minute, and the plans'
# per-minute budgets, which take precedence: pro's 6,000) would answer a benchmark's
# single-tenant runs with 429s: raised or lifted, so every request does its work.
UNLIMITED = {
    "TENANTRY_TENANT_RATE": "100000000/minute",
    "TENANTRY_USER_RATE": "100000000/minute",
    "TENANTRY_PLANS_FILE": str(Path(__file__).with_name("plans.toml")),
}


_serve_workers: dict[str, bool] = {}


def serve_workers_work(db_url: str) -> bool:
    """Does ``tenantry serve --workers 2`` answer within 30 s here? (Checked once a run.)"""
    if "ok" not in _serve_workers:
        port = free_port()
        serve = str(Path(sys.executable).parent / "tenantry")
        cmd = [serve, "serve", "--port", str(port), "--workers", "2"]
        log = DATA / "logs" / "serve-workers-check.log"
        try:
            with running("tenantry serve --workers 2", cmd, _env(db_url), port, log=log, wait=30):
                _serve_workers["ok"] = True
        except RuntimeError:
            _serve_workers["ok"] = False
    return _serve_workers["ok"]


def tenantry(
    db_url: str, workers: int = 1, *, owner_url: str | None = None, slow_route: bool = False
) -> AbstractContextManager[Running]:
    """``tenantry serve [--workers N]``, as documented; ``slow_route``: the bench factory.

    If ``serve --workers`` does not come up on this machine, every tenantry run (1 worker
    too, so the rows compare alike) uses uvicorn with the factory ``serve`` hands it.
    """
    port = free_port()
    env = _env(db_url, **UNLIMITED)
    if owner_url:  # PostgreSQL: serve migrates as the owner and grants the app role
        env.update(MIGRATION_DATABASE_URL=owner_url, TENANTRY_APP_ROLE=APP_ROLE)
    if slow_route:
        cmd = [*uvicorn_cmd("bench.serve_tenantry:create", port, workers), "--factory"]
    elif serve_workers_work(db_url):
        serve = str(Path(sys.executable).parent / "tenantry")
        cmd = [serve, "serve", "--port", str(port), "--workers", str(workers)]
    else:
        factory = "tenantry_server.app:app_from_environment"
        cmd = [*uvicorn_cmd(factory, port, workers), "--factory"]
    if workers > 1 and "--factory" in cmd:  # what serve --workers sets up for its workers
        env["TENANTRY_WORKER_BOARD"] = str(DATA / f"workers-{port}.board")
    return running("tenantry", cmd, env, port, log=DATA / "logs" / "tenantry.log")


def bare(db: Path, workers: int = 1) -> AbstractContextManager[Running]:
    port = free_port()
    cmd = uvicorn_cmd("bench.baseline_app:app", port, workers)
    env = _env(f"sqlite:///{db}", BENCH_DB=str(db))
    return running("bare", cmd, env, port, log=DATA / "logs" / "bare.log")


def handwritten(url: str, workers: int = 1) -> AbstractContextManager[Running]:
    port = free_port()
    cmd = uvicorn_cmd("bench.handwritten_app:app", port, workers)
    env = _env(url, BENCH_URL=url)
    return running("handwritten", cmd, env, port, log=DATA / "logs" / "handwritten.log")


def load_page(
    srv: Running, script: str, seconds: float, connections: int = CONNECTIONS
) -> dict[str, float]:
    """One wrk run of ``GET /api/readings?limit=50`` with a token-rotating ``script``."""
    return run_wrk(srv.readings + "?limit=50", script, seconds=seconds, connections=connections)


def get(srv: Running, tokens: list[str], connections: int = CONNECTIONS) -> dict[str, float]:
    script = get_script(tokens)
    load_page(srv, script, 1, connections)  # warm-up
    return load_page(srv, script, SECONDS, connections)


def post(
    srv: Running, tok: str, seconds: float = SECONDS, connections: int = CONNECTIONS
) -> dict[str, float]:
    return run_wrk(
        srv.readings, post_script(tok), seconds=seconds, connections=connections, threads=2
    )


_MEDIAN_KEYS = ("rps", "p50_ms", "p99_ms")
_SUMMED_KEYS = ("requests", "non_2xx", "socket_errors")


def median_of(runs: list[dict[str, float]]) -> dict[str, Any]:
    """One figure from alternated rounds: the median rate and latencies, the summed counts,
    and each round's rate (``rounds_rps``) to show the spread."""
    out: dict[str, Any] = {k: statistics.median(r[k] for r in runs) for k in _MEDIAN_KEYS}
    out.update({k: sum(int(r[k]) for r in runs) for k in _SUMMED_KEYS})
    out["rounds_rps"] = [r["rps"] for r in runs]
    return out


def alternate(
    servers: Mapping[str, Running], measure: Callable[[str, Running], dict[str, float]]
) -> dict[str, dict[str, Any]]:
    """``measure`` every server ``ROUNDS`` times, taking turns, all servers up.

    This VM's speed drifts 1.5-3x within minutes; one long run per system put a drift
    on whichever system ran then, and the ratio with it. Short runs in turn spread
    a drift over every system alike.
    """
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    for _ in range(ROUNDS):
        for name, srv in servers.items():
            runs[name].append(measure(name, srv))
    return {name: median_of(found) for name, found in runs.items()}


def request_paths(
    starters: Mapping[str, Starter],
    tokens: list[str] | Mapping[str, list[str]],
    writers: Mapping[str, str] | None = None,
    wide: int | None = None,
    connections: int = CONNECTIONS,
) -> dict[str, dict[str, Any]]:
    """GET (rotating ``tokens``, or each server's own), then POST (one tenant each, when
    ``writers`` names them), on every server in turn (:func:`alternate`), with each
    server's memory, at ``connections``. ``wide``: the GET also at that many connections
    (``get_c{wide}``), in the same turns, so the two connection counts compare the same
    minutes."""
    seconds = max(2, round(SECONDS / ROUNDS))
    own = tokens if isinstance(tokens, Mapping) else dict.fromkeys(starters, tokens)
    scripts = {name: get_script(own[name]) for name in starters}

    def get_round(name: str, srv: Running) -> dict[str, float]:
        system, _, wider = name.partition("@")
        return load_page(srv, scripts[system], seconds, int(wider or connections))

    with ExitStack() as stack:
        servers = {name: stack.enter_context(start()) for name, start in starters.items()}
        out: dict[str, dict[str, Any]] = {
            name: {"rss_idle_mb": rss_kb(srv.pid) / 1024} for name, srv in servers.items()
        }
        for name, srv in servers.items():
            get_round(name, srv)  # warm-up
        turns = dict(servers)
        if wide is not None:
            turns.update({f"{name}@{wide}": srv for name, srv in servers.items()})
        for name, figure in alternate(turns, get_round).items():
            system, _, wider = name.partition("@")
            out[system][f"get_c{wider}" if wider else "get"] = figure
        if writers is not None:
            posts = alternate(
                servers, lambda name, srv: post(srv, writers[name], seconds, connections)
            )
            for name, figure in posts.items():
                out[name]["post"] = figure
        for name, srv in servers.items():
            out[name]["rss_peak_mb"] = rss_kb(srv.pid, "VmHWM") / 1024
    return out


def fairness(db_url: str, fx: Fixture, owner_url: str | None = None) -> dict[str, Any]:
    """Dashboard flood at 1 and 2 workers, readings-page flood at 1 worker (its reads run on
    the event loop); the slow request at 1 worker (same process)."""
    a, b = token(fx, 0), token(fx, 2)
    out: dict[str, Any] = {}
    for workers in (1, 2):
        with tenantry(db_url, workers, owner_url=owner_url) as srv:
            out[f"flood_w{workers}"] = flood(srv.base, a, b, connections=FLOOD, seconds=SECONDS)
            if workers == 1:
                out["flood_pages_w1"] = flood(
                    srv.base,
                    a,
                    b,
                    connections=FLOOD,
                    seconds=SECONDS,
                    path="/api/readings?limit=50",
                )
    with tenantry(db_url, owner_url=owner_url, slow_route=True) as srv:
        sqlite = db_url.startswith("sqlite")
        out["slow"] = slow_request(srv.base, a, b, target_s=2.0, sqlite=sqlite)
    return out


# BENCH_ONLY=sqlite,fairness_sqlite runs only those steps and writes its figures under
# BENCH_DATA (partial.json, partial.md), leaving docs/benchmarks.md as it is.
ONLY = frozenset(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))


def wanted(name: str) -> bool:
    return not ONLY or name in ONLY


@contextmanager
def step(name: str, res: dict[str, Any]) -> Iterator[None]:
    """Time a part of the run; a failure is recorded in the results, not fatal."""
    t = time.monotonic()
    try:
        yield
    except Exception as exc:
        res.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"[:500]
        print(f"{name} FAILED: {exc}", flush=True)
    res.setdefault("timings", {})[name] = round(time.monotonic() - t, 1)
    print(f"{name}: {res['timings'][name]}s", flush=True)


def _stop(_signum: int, _frame: object) -> None:
    sys.exit(143)  # unwind: every server and the PostgreSQL cluster are stopped on the way out


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    DATA.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    config = {
        "sizes": SIZES,
        "seconds": SECONDS,
        "rounds": ROUNDS,
        "connections": CONNECTIONS,
        "worker_connections": WORKER_CONNECTIONS,
        "tokens": TOKENS,
        "flood_connections": FLOOD,
        "export_rows": EXPORT_ROWS,
    }
    res: dict[str, Any] = {"config": config}
    res["load_before"] = os.getloadavg()
    t = time.monotonic()
    fixtures = [generate(DATA / f"t{n}.db", n, rows) for n, rows in SIZES]
    res["generate_s"] = time.monotonic() - t
    res["fixture_rows"] = [f.rows for f in fixtures]
    big = fixtures[-1]
    mid = fixtures[1] if len(fixtures) > 2 else fixtures[0]
    print(f"fixtures in {res['generate_s']:.0f}s", flush=True)
    lite = f"sqlite:///{big.path}"
    tokens = rotation(big)
    res["serve_workers_ok"] = serve_workers_work(lite)
    print("tenantry serve --workers 2 starts:", res["serve_workers_ok"], flush=True)

    # The request path on SQLite, the largest database: tenantry, bare stack, hand-written.
    if wanted("sqlite"):
        with step("sqlite", res):
            res.update(
                request_paths(
                    {
                        "tenantry": lambda: tenantry(lite),
                        "bare": lambda: bare(big.path),
                        "handwritten": lambda: handwritten(f"sqlite+aiosqlite:///{big.path}"),
                    },
                    tokens,
                    {
                        "tenantry": token(big, 1),
                        "bare": token(big, 2),
                        "handwritten": token(big, 1),
                    },
                )
            )

    # Multi-process: the same GET and POST with 2 worker processes, tenantry and the bare
    # stack (two processes' writers meet on one SQLite file: ADR 0009 item 5).
    if wanted("workers"):
        with step("workers", res):
            two = {"tenantry": lambda: tenantry(lite, 2), "bare": lambda: bare(big.path, 2)}
            writers = {"tenantry": token(big, 3), "bare": token(big, 4)}
            both = request_paths(two, tokens, writers, connections=WORKER_CONNECTIONS)
            res["workers"] = {k: v["get"] for k, v in both.items()}
            res["workers_post"] = {k: v["post"] for k, v in both.items()}

    # Tenant scaling: every size rotates over its own tenants' tokens.
    if wanted("scaling"):
        with step("scaling", res):
            res["scaling"] = {}
            for (n, _), fx in zip(SIZES[:-1], fixtures[:-1], strict=True):
                with tenantry(f"sqlite:///{fx.path}") as srv:
                    res["scaling"][str(n)] = {**get(srv, rotation(fx)), "tokens": min(TOKENS, n)}
            res["scaling"][str(SIZES[-1][0])] = {**res["tenantry"]["get"], "tokens": len(tokens)}

    # Fairness on SQLite: a dashboard flood, and a slow request.
    if wanted("fairness_sqlite"):
        with step("fairness_sqlite", res):
            res["fairness_sqlite"] = fairness(lite, big)

    # PostgreSQL: the 1,000-tenant fixture in a throwaway cluster, RLS on.
    if wanted("postgres"):
        with step("postgres", res):
            postgres(mid, res)

    # ORM scoping on vs off per statement, identical SQL (bench/isolation_cost.py).
    if wanted("scoping"):
        with step("scoping", res):
            from bench.isolation_cost import measure

            res["scoping"] = measure(big.path, big.tenant_ids[0])

    # Usage metering on vs off, the same page in process (bench/metering_cost.py).
    if wanted("metering"):
        with step("metering", res):
            from bench.metering_cost import measure as measure_metering

            res["metering"] = measure_metering()

    # The dashboard through the tenant cache vs computed (bench/cache_cost.py).
    if wanted("cache"):
        with step("cache", res):
            from bench.cache_cost import measure as measure_cache

            res["cache"] = measure_cache(big.path, big.tenant_ids[0])

    # RLS policy on vs off per statement, identical SQL (bench/rls_cost.py).
    if wanted("rls"):
        with step("rls", res):
            from bench.rls_cost import measure as measure_rls

            res["rls"] = measure_rls()

    # tenantize vs a hand-written backfill on the 1.1M-row electricity fixture.
    if wanted("tenantize"):
        with step("tenantize", res):
            from bench.tenantize import measure as measure_tenantize

            res["tenantize"] = measure_tenantize("large", DATA / "tenantize")

    # tenantize's memory at ten times the rows (and users): flat, not growing with them.
    if wanted("tenantize_huge"):
        with step("tenantize_huge", res):
            from bench.tenantize import measure_peak

            res["tenantize_huge"] = measure_peak("huge", DATA / "tenantize")

    # Export, tenants of each size in one database.
    if wanted("export"):
        with step("export", res):
            ex = single_tenant_rows(DATA / "export.db", EXPORT_ROWS)
            res["export"] = {
                str(n): {"tenantry": export("tenantry", ex, i), "bare": export("bare", ex, i)}
                for i, n in enumerate(EXPORT_ROWS)
            }
            # The readings CSV over HTTP (tenantry serve) vs the same bytes by hand.
            with tenantry(f"sqlite:///{ex.path}") as srv:
                res["csv_download"] = {
                    "tenantry": csv_download(srv, token(ex, 0)),
                    "bare": export("csv", ex, 0),
                }

    # Placement: 1,000 dedicated SQLite tenants vs shared; moving a 1M-row tenant.
    if wanted("placement"):
        with step("placement", res):
            from bench.placement import measure as measure_placement

            env = _env("", **UNLIMITED)
            env.pop("DATABASE_URL")
            res["placement"] = measure_placement(DATA, rotation, env, SECONDS, CONNECTIONS)

    res["elapsed_s"] = time.monotonic() - started
    res["load_after"] = os.getloadavg()
    res["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": __import__("sqlite3").sqlite_version,
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0],
        "git": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
    }
    from bench.report import write_report

    if ONLY:
        (DATA / "partial.json").write_text(json.dumps(res, indent=2) + "\n")
        write_report(res, DATA / "partial.md", "")
        print(f"steps {sorted(ONLY)}: {DATA / 'partial.md'}", flush=True)
        return
    (ROOT / "bench" / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    notes = ROOT / "bench" / "notes.md"
    write_report(res, ROOT / "docs" / "benchmarks.md", notes.read_text() if notes.exists() else "")
    print(f"done in {res['elapsed_s']:.0f}s", flush=True)


def postgres(fx: Fixture, res: dict[str, Any]) -> None:
    from bench.pg_data import PLAIN_ROLE, pg_fixture

    tokens = rotation(fx)
    with pg_fixture(fx) as pg:
        hand_url = pg.url(PLAIN_ROLE, "asyncpg")
        out: dict[str, Any] = {"fixture_rows": fx.rows, "tenants": len(fx.tenant_ids)}
        owner = pg.owner_url
        out.update(
            request_paths(
                {
                    "tenantry": lambda: tenantry(pg.app_url, owner_url=owner),
                    "handwritten": lambda: handwritten(hand_url),
                },
                tokens,
                {"tenantry": token(fx, 1), "handwritten": token(fx, 2)},
                wide=32,  # does req/s grow with connections? The same GET at 32, in turn.
            )
        )
        two = {
            "tenantry": lambda: tenantry(pg.app_url, 2, owner_url=owner),
            "handwritten": lambda: handwritten(hand_url, 2),
        }
        paths = request_paths(two, tokens, connections=WORKER_CONNECTIONS)
        out["workers"] = {k: v["get"] for k, v in paths.items()}
        res["postgres"] = out
        print("postgres", {k: v for k, v in out.items() if k != "workers"}, flush=True)
        try:
            res["peer"] = peer_in_turn(pg, fx, tokens)
        except Exception as exc:
            res["peer"] = {"error": f"{type(exc).__name__}: {exc}"[:1500]}
        print("peer", res["peer"], flush=True)
        res["fairness_postgres"] = fairness(pg.app_url, fx, pg.owner_url)


def peer_in_turn(pg: PgFixture, fx: Fixture, tokens: list[str]) -> dict[str, Any]:
    """fastapi-tenancy without and with its L1 cache, and tenantry again, taking turns
    (:func:`request_paths`): the peer rows compare figures of the same minutes."""
    from bench.peer import PACKAGE, peer_servers

    with peer_servers(pg, DATA, secret=SECRET) as peers:
        ours: dict[str, Starter] = {
            "tenantry": lambda: tenantry(pg.app_url, owner_url=pg.owner_url)
        }
        theirs = peer_tokens(fx)
        found = request_paths(
            {**ours, **peers}, {"tenantry": tokens, **dict.fromkeys(peers, theirs)}
        )
    return {
        "package": PACKAGE,
        "tenantry_get": found["tenantry"]["get"],
        **{key: found[key]["get"] for key in peers},
    }


def peer_tokens(fx: Fixture, count: int = TOKENS) -> list[str]:
    """The same tokens with a ``slug`` claim: fastapi-tenancy resolves tenants by slug."""
    import jwt

    out = []
    for tok in rotation(fx, count):
        claims = jwt.decode(tok, options={"verify_signature": False})
        i = fx.tenant_ids.index(claims["tenant"].replace("-", ""))
        out.append(jwt.encode({**claims, "slug": f"home-{i}"}, SECRET, algorithm="HS256"))
    return out


def csv_download(srv: Running, tok: str) -> dict[str, Any]:
    """``GET /api/readings.csv`` of one tenant, read to the end: rows, seconds, SHA-256."""
    digest, size = hashlib.sha256(), 0
    start = time.perf_counter()
    with httpx.stream(
        "GET", srv.base + "/api/readings.csv", headers={"Authorization": f"Bearer {tok}"},
        timeout=600,
    ) as response:  # fmt: skip
        response.raise_for_status()
        for chunk in response.iter_raw():
            digest.update(chunk)
            size += chunk.count(b"\n")
    seconds = time.perf_counter() - start
    rows = size - 1  # the header line
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds,
            "sha256": digest.hexdigest()}  # fmt: skip


def export(mode: str, fx: Fixture, i: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.export_worker", mode, str(fx.path), fx.tenant_ids[i],
         str(fx.user_ids[i])],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=600,
    ).stdout  # fmt: skip
    data: dict[str, float] = json.loads(out)
    data["rows_per_s"] = data["rows"] / data["seconds"]
    return data


if __name__ == "__main__":
    main()
