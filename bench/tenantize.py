"""Benchmark ``tenantize`` on a large electricity database (SQLite, 1M+ rows).

    .venv/bin/python bench/tenantize.py [--size large] [--dir bench/out]
    .venv/bin/python bench/tenantize.py --size huge --peak-only   # memory at ~11M rows

Prints the time of each phase and rows/s; the copy phase is the one that scales.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from tenantry.migrate import (
    apply,
    build_plan,
    conversion_engine,
    finish,
    load_mapping,
    sqlite_convert,
    verify,
)
from tenantry.migrate.progress import Reporter
from tenantry.migrate.samples import example_mapping, generate


def _hand_connection(path: Path, *, cache_kib: int) -> sqlite3.Connection:
    """A baseline's connection, with each legacy user's new tenant in ``user_tenant``."""
    con = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", f"cache_size=-{cache_kib}"):
        con.execute(f"PRAGMA {pragma}")
    con.execute(
        "CREATE TABLE user_tenant AS SELECT id AS user_id, lower(hex(randomblob(16))) AS tenant_id"
        " FROM users"
    )
    con.execute("CREATE UNIQUE INDEX user_tenant_user ON user_tenant (user_id)")
    return con


def hand_backfill(path: Path) -> dict[str, float]:
    """The hand-written baseline of the issue: ``UPDATE … SET tenant_id`` along user_id.

    It adds a nullable column, backfills it in 50k-row batches and indexes it; it does
    not rebuild primary keys, create tenantry's tables, back up or verify, so it is
    a floor, not an equivalent.
    """
    con = _hand_connection(path, cache_kib=262_144)
    seconds: dict[str, float] = {}
    for table in ("readings", "vouchers"):
        start = time.perf_counter()
        con.execute(f"ALTER TABLE {table} ADD COLUMN tenant_id TEXT")
        top = con.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
        for low in range(0, top + 1, 50_000):
            con.execute("BEGIN")
            con.execute(
                f"UPDATE {table} SET tenant_id = (SELECT u.tenant_id FROM user_tenant u"
                f" WHERE u.user_id = {table}.user_id) WHERE rowid BETWEEN ? AND ?",
                (low, low + 49_999),
            )
            con.execute("COMMIT")
        con.execute(f"CREATE INDEX ix_{table}_tenant ON {table} (tenant_id, id)")
        seconds[table] = time.perf_counter() - start
    con.close()
    return seconds


# What a careful user writes on SQLite to reach tenantize's schema: the primary key
# (tenant_id, id) needs a rebuild, and every index gets a tenant-leading twin.
_REBUILT = {
    "readings": (
        "id INTEGER NOT NULL, user_id INTEGER, read_at TIMESTAMP NOT NULL, "
        "meter_wh INTEGER NOT NULL, note TEXT, is_replacement BOOLEAN NOT NULL DEFAULT FALSE, "
        "created_at TIMESTAMP NOT NULL",
        ["read_at"],
    ),
    "vouchers": (
        "id INTEGER NOT NULL, user_id INTEGER, purchased_on DATE NOT NULL, "
        "amount_minor INTEGER NOT NULL, currency TEXT NOT NULL DEFAULT 'ZAR', "
        "energy_wh INTEGER NOT NULL, token_number TEXT, vendor TEXT, notes TEXT, "
        "created_at TIMESTAMP NOT NULL",
        ["purchased_on"],
    ),
}


def hand_rebuild(path: Path) -> dict[str, float]:
    """A hand-written conversion to the same schema as tenantize's, without its checks.

    Per table: a new table keyed ``(tenant_id, id)``, rows copied across with their
    user's tenant (rows without one in a tenant of their own) in 50k-row batches, the
    old table dropped and the new one renamed, the legacy index recreated and
    tenant-leading indexes on it and on ``user_id`` added. No backup, snapshot, accounts
    or verification: the same copy, done by hand.
    """
    con = _hand_connection(path, cache_kib=16_384)
    seconds: dict[str, float] = {}
    for table, (columns, indexed) in _REBUILT.items():
        start = time.perf_counter()
        names = [c.split()[0] for c in columns.split(", ")]
        con.execute(
            f"CREATE TABLE {table}_new (tenant_id CHAR(32) NOT NULL, {columns}, "
            "PRIMARY KEY (tenant_id, id))"
        )
        top = con.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
        for low in range(0, top + 1, 50_000):
            con.execute("BEGIN")
            con.execute(
                f"INSERT INTO {table}_new SELECT coalesce(u.tenant_id, 'no owner'),"
                f" {', '.join('t.' + n for n in names)}"
                f" FROM {table} t LEFT JOIN user_tenant u ON u.user_id = t.user_id"
                " WHERE t.rowid BETWEEN ? AND ?",
                (low, low + 49_999),
            )
            con.execute("COMMIT")
        con.execute("BEGIN")
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
        for column in indexed:
            con.execute(f"CREATE INDEX ix_{table}_{column} ON {table} ({column})")
        for column in (*indexed, "user_id"):
            con.execute(f"CREATE INDEX ix_{table}_t_{column} ON {table} (tenant_id, {column})")
        con.execute("COMMIT")
        seconds[table] = time.perf_counter() - start
    con.close()
    return seconds


def apply_peak_mib(pristine: Path, directory: Path) -> float:
    """Peak RSS of the ``tenantize --apply`` command (a child process) on a fresh copy.

    Read from the child's own ``VmHWM`` while it runs: ``ru_maxrss`` would report the
    parent's peak when the parent (``make bench``) is the larger process, since Linux
    keeps it across fork and exec.
    """
    db = directory / "peak.sqlite"
    for path in (db, directory / "peak.bak", directory / "peak.bak.tenantize.json"):
        path.unlink(missing_ok=True)
    shutil.copy(pristine, db)
    command = [sys.executable, "-m", "tenantry.cli.main", "tenantize", "--db", f"sqlite:///{db}"]
    command += ["--map", str(example_mapping("electricity")), "--apply", "--quiet"]
    command += ["--backup", str(directory / "peak.bak")]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status = Path(f"/proc/{child.pid}/status")
    peak_kb = 0
    while child.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
        except (OSError, ValueError):
            pass  # the child is exiting
        time.sleep(0.05)
    assert child.returncode == 0, "tenantize --apply failed"
    for path in (db, directory / "peak.bak", directory / "peak.bak.tenantize.json"):
        path.unlink(missing_ok=True)
    return peak_kb / 1024


def measure_peak(size: str, directory: Path) -> dict[str, Any]:
    """Only the peak memory of ``tenantize --apply`` on the ``size`` fixture (and its rows)."""
    directory.mkdir(parents=True, exist_ok=True)
    pristine = directory / f"electricity-{size}.legacy.sqlite"
    if not pristine.exists():  # ~3 min for "huge": kept for the next run
        generate(create_engine(f"sqlite:///{pristine}"), "electricity", size=size)
    with sqlite3.connect(pristine) as con:
        rows = sum(
            con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("readings", "vouchers")
        )
    start = time.perf_counter()
    peak = apply_peak_mib(pristine, directory)
    return {"rows": rows, "apply_peak_mib": peak, "apply_s": time.perf_counter() - start}


def measure(size: str, directory: Path) -> dict[str, Any]:
    """Convert a fresh copy of the ``size`` electricity fixture; time every phase."""
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / f"electricity-{size}.sqlite"
    pristine = directory / f"electricity-{size}.legacy.sqlite"
    for suffix in ("", "-wal", "-shm", ".bak", ".bak.tenantize.json"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)  # a backup is never overwritten
    mapping = load_mapping(example_mapping("electricity"))
    if not pristine.exists():  # generating takes longer than converting: keep a copy
        generate(create_engine(f"sqlite:///{pristine}"), "electricity", size=size)
    shutil.copy(pristine, db)
    copy_seconds: dict[str, float] = {}
    convert_table = sqlite_convert.convert_table

    def timed(engine: Any, whole: Any, plan: Any, *rest: Any) -> None:
        start = time.perf_counter()
        convert_table(engine, whole, plan, *rest)
        copy_seconds[plan.name] = time.perf_counter() - start

    sqlite_convert.convert_table = timed  # type: ignore[assignment]
    try:
        engine = conversion_engine(f"sqlite:///{db}")
        t1 = time.perf_counter()
        with engine.connect() as conn:
            plan = build_plan(conn, mapping)
        t2 = time.perf_counter()
        with Reporter(quiet=True) as reporter:
            result = apply(engine, mapping, backup_path=Path(f"{db}.bak"), reporter=reporter)
            t3 = time.perf_counter()
            checks = verify(engine, mapping, result.plan, reporter)
            t4 = time.perf_counter()
            finish(engine, result.plan, reporter)
        engine.dispose()
    finally:
        sqlite_convert.convert_table = convert_table
    assert checks.ok
    assert not plan.blocking
    peak = apply_peak_mib(pristine, directory)
    baseline = directory / f"electricity-{size}.hand.sqlite"
    shutil.copy(pristine, baseline)
    hand = hand_backfill(baseline)
    shutil.copy(pristine, baseline)
    rebuild = hand_rebuild(baseline)
    baseline.unlink()
    counts = {t.name: t.rows for t in plan.tables}
    return {
        "rows": counts,
        "convert_s": copy_seconds,
        "hand_backfill_s": hand,
        "hand_rebuild_s": rebuild,
        "dry_run_s": t2 - t1,
        "apply_s": t3 - t2,
        "verify_s": t4 - t3,
        "apply_peak_mib": peak,  # target: < 150 MiB, flat in the number of rows
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="large")
    parser.add_argument("--dir", type=Path, default=Path("bench/out"))
    parser.add_argument("--peak-only", action="store_true", help="only tenantize --apply's RSS")
    args = parser.parse_args()
    if args.peak_only:
        res = measure_peak(args.size, args.dir)
        print(
            f"peak memory of tenantize --apply ({args.size}, {res['rows']:,} rows): "
            f"{res['apply_peak_mib']:.0f} MiB in {res['apply_s']:.0f} s"
        )
        return
    res = measure(args.size, args.dir)
    rows = sum(res["rows"].values())
    print(f"rows: {res['rows']} ({rows:,} owned rows)")
    for name, seconds in res["convert_s"].items():
        ours = res["rows"][name] / seconds
        theirs = res["rows"][name] / res["hand_backfill_s"][name]
        print(
            f"  convert {name:<10} {seconds:5.1f} s {ours:>10,.0f} rows/s; "
            f"hand-written backfill {theirs:>10,.0f} rows/s ({ours / theirs:.2f}x)"
        )
        rebuilt = res["rows"][name] / res["hand_rebuild_s"][name]
        print(f"  {'':<19} hand-written rebuild {rebuilt:>11,.0f} rows/s ({ours / rebuilt:.2f}x)")
    for phase in ("dry_run", "apply", "verify"):
        seconds = res[f"{phase}_s"]
        print(f"{phase:<8} {seconds:6.1f} s {rows / seconds:>12,.0f} rows/s")
    print(f"peak memory of tenantize --apply: {res['apply_peak_mib']:.0f} MiB (target < 150 MiB)")


if __name__ == "__main__":
    main()
