"""Turn ``results.json`` into ``docs/benchmarks.md``: figure, tenantry, baseline, ratio, target."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

Run = dict[str, Any]


def _bad(*runs: Run) -> str:
    """Non-2xx answers plus socket errors of each run behind a row (tenantry / baseline)."""
    return " / ".join(
        str(int(r.get("non_2xx", 0)) + int(r.get("socket_errors", 0))) for r in runs if r
    )


def _row(
    figure: str,
    ours: float,
    base: float,
    unit: str,
    target: str = "-",
    ok: Callable[[float], bool] | None = None,
    bad: str = "-",
) -> str:
    ratio = ours / base if base else float("nan")
    met = "-" if ok is None else "yes" if ok(ratio) else "**NO**"
    return (
        f"| {figure} | {ours:,.1f} {unit} | {base:,.1f} {unit} | {ratio:.2f}x | {target} "
        f"| {met} | {bad} |"
    )


def _missing(figure: str, why: str) -> str:
    return f"| {figure} | not measured: {why} | | | | **NO** | |"


def _at_least(x: float) -> Callable[[float], bool]:
    return lambda r: r >= x


def _at_most(x: float) -> Callable[[float], bool]:
    return lambda r: r <= x


def _holds(fact: bool) -> Callable[[float], bool]:
    """A target about something other than the ratio."""
    return lambda _r: fact


def request_rows(res: dict[str, Any]) -> list[str]:
    t, b = res["tenantry"], res["bare"]
    h = res.get("handwritten")
    out = [
        _row("GET readings req/s, vs bare stack", t["get"]["rps"], b["get"]["rps"], "req/s",
             ">= 0.6x", _at_least(0.6), _bad(t["get"], b["get"])),
        _row("GET readings p50, vs bare stack", t["get"]["p50_ms"], b["get"]["p50_ms"], "ms"),
        _row("GET readings p99, vs bare stack", t["get"]["p99_ms"], b["get"]["p99_ms"], "ms",
             "<= 2x", _at_most(2.0)),
        _row("POST reading req/s, vs bare stack", t["post"]["rps"], b["post"]["rps"], "req/s",
             ">= 0.5x", _at_least(0.5), _bad(t["post"], b["post"])),
        _row("POST reading p99, vs bare stack", t["post"]["p99_ms"], b["post"]["p99_ms"], "ms"),
    ]  # fmt: skip
    if h:
        out += [
            _row("GET readings req/s, vs hand-written (SQLite)", t["get"]["rps"], h["get"]["rps"],
                 "req/s", ">= 2x", _at_least(2.0), _bad(t["get"], h["get"])),
            _row("GET readings p99, vs hand-written (SQLite)", t["get"]["p99_ms"],
                 h["get"]["p99_ms"], "ms"),
            _row("POST reading req/s, vs hand-written (SQLite)", t["post"]["rps"],
                 h["post"]["rps"], "req/s", ">= 2x", _at_least(2.0), _bad(t["post"], h["post"])),
        ]  # fmt: skip
    else:
        out.append(_missing("vs hand-written (SQLite)", res.get("errors", {}).get("sqlite", "-")))
    return out


def postgres_rows(res: dict[str, Any]) -> list[str]:
    pg = res.get("postgres")
    if not pg:
        return [_missing("tenantry on PostgreSQL", res.get("errors", {}).get("postgres", "-"))]
    t, h = pg["tenantry"], pg["handwritten"]
    out = [
        _row("PG GET readings req/s, vs hand-written (asyncpg)", t["get"]["rps"],
             h["get"]["rps"], "req/s", ">= 2x", _at_least(2.0), _bad(t["get"], h["get"])),
        _row("PG GET readings req/s, vs hand-written (PostgreSQL target)", t["get"]["rps"],
             h["get"]["rps"], "req/s", ">= 1.5x", _at_least(1.5)),
        _row("PG GET readings p99, vs hand-written", t["get"]["p99_ms"], h["get"]["p99_ms"], "ms"),
        _row("PG POST reading req/s, vs hand-written", t["post"]["rps"], h["post"]["rps"],
             "req/s", ">= 2x", _at_least(2.0), _bad(t["post"], h["post"])),
        _row("PG GET req/s at 32 connections, vs 4 (tenantry)", t["get_c32"]["rps"],
             t["get"]["rps"], "req/s", "> 1x (grows)", lambda r: r > 1.05, _bad(t["get_c32"])),
        _row("PG GET req/s at 32 connections, vs 4 (hand-written)", h["get_c32"]["rps"],
             h["get"]["rps"], "req/s", "-", None, _bad(h["get_c32"])),
        _row("tenantry GET req/s, PostgreSQL vs SQLite (same table)", t["get"]["rps"],
             res["tenantry"]["get"]["rps"], "req/s"),
    ]  # fmt: skip
    peer = res.get("peer", {})
    if "get" in peer:
        ours = peer.get("tenantry_get", t["get"])  # tenantry's turns beside the peer's
        out += [
            _row("PG GET readings req/s, vs fastapi-tenancy 0.5 (RLS), in turn", ours["rps"],
                 peer["get"]["rps"], "req/s", "> 1x (ahead)", lambda r: r > 1.0,
                 _bad(ours, peer["get"])),
            _row("PG GET readings req/s, vs fastapi-tenancy with its L1 cache, in turn",
                 ours["rps"], peer["get_l1"]["rps"], "req/s", "> 1x (ahead)", lambda r: r > 1.0,
                 _bad(ours, peer["get_l1"])),
        ]  # fmt: skip
    else:
        out.append(_missing("vs fastapi-tenancy 0.5 (RLS)", peer.get("error", "-")[:300]))
    return out


def fairness_rows(res: dict[str, Any]) -> list[str]:
    out = []
    for backend in ("sqlite", "postgres"):
        fair = res.get(f"fairness_{backend}")
        if not fair:
            out.append(_missing(f"fairness on {backend}", res.get("errors", {}).get(
                f"fairness_{backend}", res.get("errors", {}).get(backend, "-"))))  # fmt: skip
            continue
        for key, workers, what in (
            ("flood_w1", 1, "the dashboard"),
            ("flood_w2", 2, "the dashboard"),
            ("flood_pages_w1", 1, "its readings page"),
        ):
            f = fair.get(key)
            if not f:
                continue
            label = f"{backend}, {workers} worker{'s' if workers > 1 else ''}"
            out.append(
                _row(f"B's page p99 while A floods {what} ({f['connections']} conns), "
                     f"vs idle: {label}", f["loaded"]["p99_ms"], f["idle"]["p99_ms"], "ms",
                     "<= 3x", _at_most(3.0), _bad(f["loaded"], f["idle"]))
            )  # fmt: skip
            out.append(
                _row(f"B's page p50 under that flood, vs idle: {label} (A's flood: "
                     f"{f['flood']['rps']:.0f} req/s, {_bad(f['flood'])} non-2xx)",
                     f["loaded"]["p50_ms"], f["idle"]["p50_ms"], "ms")
            )  # fmt: skip
        s = fair.get("slow")
        if s:
            what = f"while A's request runs {s['slow_ms'] / 1000:.1f} s ({backend}, 1 worker)"
            for key, name in (("page", "B's page"), ("healthz", "/healthz")):
                d, i = s["during"][key], s["idle"][key]
                out += [
                    _row(f"{name}, slowest of {d['requests']} answers {what}, vs idle p99",
                         d["max_ms"], i["p99_ms"], "ms", "<= 3x", _at_most(3.0), _bad(d, i)),
                    # The same statistic on the idle server: what the VM's tail alone gives.
                    _row(f"{name}, p99 of those answers, vs idle p99 (control: slowest of "
                         f"{i['requests']} idle answers {i['max_ms']:.1f} ms, "
                         f"{i['max_ms'] / i['p99_ms']:.2f}x)", d["p99_ms"], i["p99_ms"], "ms"),
                ]  # fmt: skip
    return out


def scale_rows(res: dict[str, Any]) -> list[str]:
    out = []
    w = res.get("workers")
    if w:
        t1, b1 = res["tenantry"]["get"], res["bare"]["get"]
        out += [
            _row("GET req/s, 1 worker, vs bare stack 1 worker", t1["rps"], b1["rps"], "req/s"),
            _row("GET req/s, 2 workers, vs bare stack 2 workers", w["tenantry"]["rps"],
                 w["bare"]["rps"], "req/s", ">= 0.6x", _at_least(0.6),
                 _bad(w["tenantry"], w["bare"])),
            _row("tenantry GET req/s, 2 workers vs 1", w["tenantry"]["rps"], t1["rps"], "req/s"),
            _row("bare GET req/s, 2 workers vs 1", w["bare"]["rps"], b1["rps"], "req/s"),
        ]  # fmt: skip
    wp = res.get("workers_post")
    if wp:
        t1, b1 = res["tenantry"]["post"], res["bare"]["post"]
        out += [
            _row("POST req/s, 2 workers, vs bare stack 2 workers", wp["tenantry"]["rps"],
                 wp["bare"]["rps"], "req/s", ">= 0.5x", _at_least(0.5),
                 _bad(wp["tenantry"], wp["bare"])),
            _row("POST p99, 2 workers, vs bare stack 2 workers", wp["tenantry"]["p99_ms"],
                 wp["bare"]["p99_ms"], "ms"),
            _row("tenantry POST req/s, 2 workers vs 1", wp["tenantry"]["rps"], t1["rps"], "req/s"),
            _row("tenantry POST p99, 2 workers vs 1", wp["tenantry"]["p99_ms"], t1["p99_ms"], "ms"),
        ]  # fmt: skip
    pw = res.get("postgres", {}).get("workers")
    if pw:
        out.append(
            _row("PG GET req/s, 2 workers, vs hand-written 2 workers", pw["tenantry"]["rps"],
                 pw["handwritten"]["rps"], "req/s", ">= 1.5x", _at_least(1.5),
                 _bad(pw["tenantry"], pw["handwritten"]))
        )  # fmt: skip
        out.append(
            _row("tenantry PG GET req/s, 2 workers vs 1", pw["tenantry"]["rps"],
                 res["postgres"]["tenantry"]["get"]["rps"], "req/s")
        )  # fmt: skip
    sc = res.get("scaling")
    if sc:
        sizes = list(sc)
        small = sc[sizes[0]]
        for n in sizes:
            row = sc[n]
            many = row.get("tokens", 1)
            last = n == sizes[-1]
            out.append(
                _row(f"GET p99, {int(n):,} tenants, tokens rotating over {many:,} tenants "
                     f"(vs {int(sizes[0]):,})", row["p99_ms"], small["p99_ms"], "ms",
                     ">= 100 tenants' tokens" if last else "-",
                     _holds(many >= 100) if last else None, _bad(row))
            )  # fmt: skip
    return out


def cost_rows(res: dict[str, Any]) -> list[str]:
    out = []
    sc = res.get("scoping")
    if sc:
        out.append(
            _row("ORM scoping hook vs hand-written filter, µs/statement", sc["on_us"],
                 sc["off_us"], "µs", "overhead <= 5%", _at_most(1.05))
        )  # fmt: skip
    mt = res.get("metering")
    if mt:
        out.append(
            _row("GET readings in process, usage metering on vs off, ms/request",
                 mt["metering_on_ms"], mt["metering_off_ms"], "ms", "overhead <= 3%",
                 _at_most(1.03))
        )  # fmt: skip
    for backend, cached in res.get("cache", {}).items():
        if isinstance(cached, dict):
            out.append(
                _row(f"dashboard from the tenant cache ({backend}) vs computed, ms/call",
                     cached["cached_ms"], cached["uncached_ms"], "ms", "< 1x", _at_most(1.0))
            )  # fmt: skip
    rls = res.get("rls", {})
    if "on_us" in rls:
        out.append(
            _row("PostgreSQL RLS on vs off, µs/statement", rls["on_us"], rls["off_us"], "µs",
                 "overhead <= 10%", _at_most(1.10))
        )  # fmt: skip
    else:
        out.append(_missing("PostgreSQL RLS on vs off", res.get("errors", {}).get("rls", "-")))
    tz = res.get("tenantize")
    if tz:
        for name, seconds in tz["convert_s"].items():
            ours = tz["rows"][name] / seconds
            theirs = tz["rows"][name] / tz["hand_backfill_s"][name]
            out.append(
                _row(f"tenantize {name} ({tz['rows'][name]:,} rows), rows/s", ours, theirs,
                     "rows/s", ">= 0.8x", _at_least(0.8))
            )  # fmt: skip
            if name in tz.get("hand_rebuild_s", {}):
                rebuilt = tz["rows"][name] / tz["hand_rebuild_s"][name]
                out.append(
                    _row(f"tenantize {name} vs a hand-written rebuild to the same schema",
                         ours, rebuilt, "rows/s")
                )  # fmt: skip
        if "apply_peak_mib" in tz:
            rows = sum(tz["rows"].values())
            out.append(
                _row(f"tenantize --apply peak RSS ({rows:,} rows), vs 150 MiB target",
                     tz["apply_peak_mib"], 150.0, "MiB", "< 150 MiB",
                     _holds(tz["apply_peak_mib"] < 150))
            )  # fmt: skip
    huge = res.get("tenantize_huge")
    if huge:
        out.append(
            _row(f"tenantize --apply peak RSS ({huge['rows']:,} rows), vs 150 MiB target",
                 huge["apply_peak_mib"], 150.0, "MiB", "< 150 MiB",
                 _holds(huge["apply_peak_mib"] < 150))
        )  # fmt: skip
    for n, ex in res.get("export", {}).items():
        et, eb = ex["tenantry"], ex["bare"]
        out.append(
            _row(f"export {int(n):,} rows, rows/s", et["rows_per_s"], eb["rows_per_s"], "rows/s",
                 ">= 0.7x", _at_least(0.7))
        )  # fmt: skip
        out.append(
            _row(f"export {int(n):,} rows, peak RSS", et["peak_rss_mb"], eb["peak_rss_mb"], "MB",
                 "< 150 MB", _holds(et["peak_rss_mb"] < 150))
        )  # fmt: skip
    dl = res.get("csv_download")
    if dl:
        dt, db = dl["tenantry"], dl["bare"]
        out.append(
            _row(f"readings CSV download over HTTP, {dt['rows']:,} rows, rows/s (vs by hand in"
                 " process; same bytes?)", dt["rows_per_s"], db["rows"] / db["seconds"],
                 "rows/s", "same bytes", _holds(dt["sha256"] == db["sha256"]))
        )  # fmt: skip
    if "tenantry" in res and "bare" in res:
        t, b = res["tenantry"], res["bare"]
        out.append(_row("server RSS idle", t["rss_idle_mb"], b["rss_idle_mb"], "MB"))
        out.append(
            _row("server RSS after GET + POST (peak)", t["rss_peak_mb"], b["rss_peak_mb"], "MB")
        )
    return out


def _sizes(sizes: list[list[int]], rows: list[int]) -> str:
    return ", ".join(f"{n:,}:{r:,}" for (n, _), r in zip(sizes, rows, strict=True))


HEADER = [
    "| figure | tenantry | baseline | ratio | target | met? | non-2xx + socket errors |",
    "|---|---|---|---|---|---|---|",
]


def _section(rows: Callable[[dict[str, Any]], list[str]], res: dict[str, Any]) -> list[str]:
    """A section's rows, or one row saying it was not measured (a step failed or was
    left out with ``BENCH_ONLY``): the rest of the report still gets written."""
    try:
        return rows(res)
    except KeyError as exc:
        return [_missing(rows.__name__, f"this run has no {exc}")]


def _round_seconds(config: dict[str, Any]) -> int:
    return max(2, round(int(config["seconds"]) / int(config.get("rounds", 1))))


def write_report(res: dict[str, Any], path: Path, notes: str = "") -> None:
    m, c = res["machine"], res["config"]
    rounds = c.get("rounds", 1)
    pg = res.get("postgres", {})
    errors = res.get("errors", {})
    before = ", ".join(f"{x:.1f}" for x in res["load_before"])
    after = ", ".join(f"{x:.1f}" for x in res["load_after"])
    load = f"Load average (1/5/15 min) before the run {before}, after {after}."
    lines = [
        "# Benchmarks: the cost of isolation, and fairness",
        "",
        "Generated by `make bench` (`python -m bench.run`) at commit "
        f"`{m.get('git', '?')}`; figures in `bench/results.json`.",
        "Every ratio is tenantry / baseline measured in the same run. Baselines: the bare",
        "stack (Starlette + sqlite3 + PyJWT + orjson, the same SQL, `bench/baseline_app.py`),",
        "a hand-written FastAPI + async SQLAlchemy app with the tenant filter typed in",
        "(`bench/handwritten_app.py`), and fastapi-tenancy 0.5 in its RLS mode",
        "(`bench/peer_app.py`, in its own venv). Load: `wrk`, "
        f"{c['connections']} connections, one thread (POST: two), {c['seconds']} s per figure",
        f"after a 1 s warm-up; GET runs rotate over {c['tokens']:,} tenants' tokens spread over",
        "the fixture; servers run on 127.0.0.1 on the same machine as wrk, one uvicorn worker",
        "unless a row says otherwise; two-worker rows load "
        f"{c.get('worker_connections', c['connections'])} connections, every",
        "system's workers each on a listening socket of its own (`bench/multiworker.py`).",
        "The servers compared in the request-path, worker and",
        "fastapi-tenancy rows run side by side and take turns: "
        f"{rounds} rounds of {_round_seconds(c)} s each, a",
        "figure being the median of its rounds (`rounds_rps` in the results keeps each one),",
        "so a drift of this VM's speed reaches every system alike.",
        "",
        f"Machine: {m['cpus']} CPUs, {m['platform']}, Python {m['python']}, SQLite {m['sqlite']},",
        f"{m['wrk']}. Run took {res['elapsed_s']:.0f} s (fixtures {res['generate_s']:.0f} s). "
        + load,
        f"SQLite fixtures (tenants:rows): {_sizes(c['sizes'], res['fixture_rows'])}; the request",
        "path runs on the largest. PostgreSQL: a throwaway cluster (fsync off) holding the "
        f"{pg.get('tenants', 0):,}-tenant",
        f"fixture ({pg.get('fixture_rows', 0):,} readings); tenantry connects as the app role "
        "with RLS on.",
        "",
        "## Request path (SQLite)",
        "",
        *HEADER,
        *_section(request_rows, res),
        "",
        "## PostgreSQL",
        "",
        *HEADER,
        *_section(postgres_rows, res),
        "",
        "## Fairness",
        "",
        "Tenant A floods `/api/dashboard` (its heaviest request) with "
        f"{c['flood_connections']} connections while one",
        "connection of tenant B loads its readings page; the baseline column is the same probe",
        "on the idle server just before. The slow request is a bench-only route",
        "(`bench/serve_tenantry.py`) running a query made slow on purpose as tenant A, through",
        "the same session dependency as meterbook; meanwhile a Python probe requests B's page",
        "and `/healthz` one after another. Baseline: the same probe's p99 on the idle server.",
        "",
        *HEADER,
        *_section(fairness_rows, res),
        "",
        "## Workers and tenant scaling",
        "",
        *HEADER,
        *_section(scale_rows, res),
        "",
        "## Isolation cost in process, tenantize, export, memory",
        "",
        *HEADER,
        *_section(cost_rows, res),
        "",
        "## Tenant placement",
        "",
        "The same readings page with every tenant in a SQLite file of its own",
        "(`docs/placement.md`) against the shared tables, tokens rotating over all tenants;",
        "file descriptors and memory of the server after the run; a tenant moved to a file of",
        "its own and back (`bench/placement.py`; alone: `python -m bench.placement`).",
        "",
        *HEADER,
        *_section(placement_rows, res),
        "",
    ]
    if errors:
        lines += ["Parts of this run that failed:", ""]
        lines += [f"- `{k}`: {v}" for k, v in errors.items()]
        lines.append("")
    lines.append(notes)
    path.write_text("\n".join(lines).rstrip() + "\n")


def placement_rows(res: dict[str, Any]) -> list[str]:
    """A tenant page with every tenant in a SQLite file of its own vs the shared tables."""
    pl = res.get("placement")
    if not pl:
        return [_missing("placement", res.get("errors", {}).get("placement", "-"))]
    pages, out = pl["pages"], []
    shared = pages["shared"]
    n = f"{pages['tenants']:,}"
    for key, label in (
        ("dedicated_64", "engine cache 64"),
        (f"dedicated_{pages['tenants']}", "cache all"),
    ):
        d = pages.get(key)
        if not d:
            continue
        out.append(
            _row(f"GET page, {n} dedicated SQLite tenants rotating ({label}) vs shared, p99",
                 d["get"]["p99_ms"], shared["get"]["p99_ms"], "ms", "<= 1.5x", _at_most(1.5),
                 _bad(d["get"], shared["get"]))
        )  # fmt: skip
        out.append(_row(f"same, req/s ({label})", d["get"]["rps"], shared["get"]["rps"], "req/s"))
        out.append(_row(f"same, open fds after the run ({label})", d["fds"], shared["fds"], "fds"))
        out.append(
            _row(f"same, server RSS peak ({label})", d["rss_peak_mb"], shared["rss_peak_mb"], "MB")
        )
    mv = pl["move"]
    for to in ("dedicated", "shared"):
        m = mv[to]
        out.append(
            f"| move {m['rows']:,} rows to {to}, rows/s | {m['rows_per_s']:,.0f} rows/s | | | - "
            f"| - | - |"
        )
        out.append(
            f"| move {m['rows']:,} rows to {to}, read-only for | {m['read_only_s']:.1f} s "
            f"(of {m['total_s']:.1f} s) | | | - | - | - |"
        )
    out.append(f"| move, peak RSS of the process | {mv['peak_rss_mb']:.0f} MB | | | - | - | - |")
    return out
