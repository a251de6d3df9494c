"""Placement: a tenant page with 1,000 dedicated SQLite tenants rotating vs the shared tables,
the server's open file descriptors and memory, and moving a 1M-row tenant.

``python -m bench.placement`` runs it alone (figures on stdout and in
``bench/placement_results.json``); ``bench.run`` runs it as one step of ``make bench``.
Sizes: BENCH_PLACEMENT_TENANTS (1000), BENCH_PLACEMENT_ROWS (365 a tenant),
BENCH_MOVE_ROWS (1,000,000).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.datagen import Fixture, generate, migrated, single_tenant_rows
from bench.load import get_script, run_wrk
from bench.servers import ROOT, free_port, rss_kb, running, uvicorn_cmd

TENANTS = int(os.environ.get("BENCH_PLACEMENT_TENANTS", "1000"))
ROWS = int(os.environ.get("BENCH_PLACEMENT_ROWS", "365"))
MOVE_ROWS = int(os.environ.get("BENCH_MOVE_ROWS", "1000000"))


def dedicated_fixture(data: Path, shared: Fixture) -> Path:
    """A control database whose tenants each have a SQLite file of their own (same rows)."""
    control = data / "placement-control.db"
    files = data / "placement-tenants"
    shutil.rmtree(files, ignore_errors=True)
    files.mkdir(parents=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{control}{suffix}").unlink(missing_ok=True)
    shutil.copy(shared.path, control)
    template = data / "placement-template.db"
    migrated(template)
    con = sqlite3.connect(template, isolation_level=None)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    now = datetime.now(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    for i, tenant in enumerate(shared.tenant_ids):
        path = files / f"tenant_{tenant}.sqlite3"
        shutil.copy(template, path)
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("ATTACH DATABASE ? AS src", (str(shared.path),))
        con.execute("BEGIN")
        con.execute(
            "INSERT INTO tenantry_tenants SELECT * FROM src.tenantry_tenants WHERE id = ?",
            (tenant,),
        )
        con.execute(
            "INSERT INTO tenantry_users (id, email, password_hash, display_name, "
            "is_platform_admin, created_at, session_version) VALUES (?, ?, '!', '', 0, ?, 0)",
            (shared.user_ids[i], f"user-{shared.user_ids[i]}@placement.invalid", now),
        )
        con.execute(
            "INSERT INTO readings SELECT * FROM src.readings WHERE tenant_id = ?", (tenant,)
        )
        con.execute("COMMIT")
        con.execute("DETACH DATABASE src")
        con.close()
    con = sqlite3.connect(control, isolation_level=None)
    con.execute("BEGIN")
    con.execute("DELETE FROM readings")
    con.executemany(
        "INSERT INTO tenantry_placements (tenant_id, kind, server, database, state, updated_at) "
        "VALUES (?, 'dedicated', 'files', ?, 'active', ?)",
        ((t, f"tenant_{t}", now) for t in shared.tenant_ids),
    )
    con.execute("COMMIT")
    con.execute("VACUUM")
    con.close()
    return files


def _toml(data: Path, files: Path, max_engines: int) -> Path:
    path = data / f"placements-{max_engines}.toml"
    path.write_text(
        f'default = "shared"\nmax_engines = {max_engines}\n'
        f'[servers.files]\nurl = "sqlite:///{files}"\n'
    )
    return path


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def visit_each(url: str, tokens: list[str]) -> None:
    """One GET per tenant before the measured run, so every row measures a steady state.

    A one-second warm-up reached ~60 % of 1,000 tenants: the cache-all row then timed
    its remaining tenants' first opens inside the run, whose p99 was those opens and the
    collections of the engines made meanwhile, not a page of an open tenant. The cache-64
    row opens a tenant on most requests whatever the warm-up (its figure is that cost).
    """
    for token in tokens:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()


def serve_and_load(
    db: Path, tokens: list[str], env: dict[str, str], seconds: int, connections: int, log: Path
) -> dict[str, Any]:
    port = free_port()
    cmd = [*uvicorn_cmd("tenantry_server.app:app_from_environment", port), "--factory"]
    with running("tenantry", cmd, {"DATABASE_URL": f"sqlite:///{db}", **env}, port, log=log) as srv:
        idle = rss_kb(srv.pid)
        script = get_script(tokens)
        url = srv.readings + "?limit=50"
        visit_each(url, tokens)
        run_wrk(url, script, seconds=1, connections=connections)  # warm-up
        figures = run_wrk(url, script, seconds=seconds, connections=connections)
        return {
            "get": figures,
            "fds": _fds(srv.pid),
            "rss_idle_mb": idle / 1024,
            "rss_mb": rss_kb(srv.pid) / 1024,
            "rss_peak_mb": rss_kb(srv.pid, "VmHWM") / 1024,
        }


def measure_pages(
    data: Path, tokens_of: Any, env: dict[str, str], seconds: int, connections: int
) -> dict[str, Any]:
    """The same page, shared vs dedicated (engine cache of 64, and of every tenant)."""
    shared = generate(data / "placement-shared.db", TENANTS, TENANTS * ROWS, focus_rows=ROWS)
    files = dedicated_fixture(data, shared)
    control = data / "placement-control.db"
    tokens = tokens_of(shared)
    logs = data / "logs"
    out: dict[str, Any] = {"tenants": TENANTS, "rows_per_tenant": ROWS, "tokens": len(tokens)}
    out["shared"] = serve_and_load(
        shared.path, tokens, env, seconds, connections, logs / "p-shared.log"
    )
    for cap in (64, TENANTS):
        placed = {**env, "TENANTRY_PLACEMENTS": str(_toml(data, files, cap))}
        out[f"dedicated_{cap}"] = serve_and_load(
            control, tokens, placed, seconds, connections, logs / f"p-dedicated-{cap}.log"
        )
    return out


def move_there_and_back(url: str, toml: str, tenant: str) -> dict[str, Any]:
    """In its own process (its peak RSS is the move's): to a file of its own, and back."""
    import time
    import uuid

    import meterbook.models  # noqa: F401  (maps the tenant tables)
    from tenantry.db import Database
    from tenantry.placement import Placements, load_config
    from tenantry.placement.move import move_tenant
    from tenantry_server.app import default_plugins

    dirs = [d for plugin in default_plugins() for d in plugin.migrations]
    placements = Placements(load_config(Path(toml)), Database(url), version_dirs=dirs)
    out: dict[str, Any] = {}
    for to in ("dedicated", "shared"):
        started = time.perf_counter()
        report = move_tenant(placements, uuid.UUID(tenant), to=to)
        out[to] = {
            "rows": report.total_rows,
            "rows_per_s": report.rows_per_second,
            "read_only_s": report.read_only_seconds,
            "copy_s": report.copy_seconds,
            "total_s": time.perf_counter() - started,
        }
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent.
    out["peak_rss_mb"] = rss_kb(os.getpid(), "VmHWM") / 1024
    return out


def measure_move(data: Path) -> dict[str, Any]:
    """Move a tenant of MOVE_ROWS readings to a SQLite file of its own and back."""
    fx = single_tenant_rows(data / "placement-move.db", [MOVE_ROWS])
    files = data / "placement-move-tenants"
    shutil.rmtree(files, ignore_errors=True)
    toml = _toml(data, files, 8)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.placement",
            "move",
            f"sqlite:///{fx.path}",
            str(toml),
            str(fx.tenant_uuid(0)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(
    data: Path, tokens_of: Any, env: dict[str, str], seconds: int, connections: int
) -> dict[str, Any]:
    return {
        "pages": measure_pages(data, tokens_of, env, seconds, connections),
        "move": measure_move(data),
    }


def main() -> None:
    if sys.argv[1:2] == ["move"]:
        print(json.dumps(move_there_and_back(*sys.argv[2:5])))
        return
    from bench import run

    data = run.DATA
    data.mkdir(parents=True, exist_ok=True)
    env = run._env("", **run.UNLIMITED)
    env.pop("DATABASE_URL")
    res = measure(data, run.rotation, env, run.SECONDS, run.CONNECTIONS)
    (ROOT / "bench" / "placement_results.json").write_text(json.dumps(res, indent=2) + "\n")
    from bench.report import placement_rows

    print("\n".join(placement_rows({"placement": res})))


if __name__ == "__main__":
    main()
