"""Benchmark ``tenantize`` on a large electricity database (SQLite, 1M+ rows).

    .venv/bin/python bench/tenantize.py [--size large] [--dir bench/out]

Prints the time of each phase and rows/s; the copy phase is the one that scales.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sqlalchemy import create_engine

from tenantry.migrate import apply, build_plan, conversion_engine, finish, load_mapping, verify
from tenantry.migrate.progress import Reporter
from tenantry.migrate.samples import example_mapping, generate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="large")
    parser.add_argument("--dir", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    db = args.dir / "electricity-large.sqlite"
    for suffix in ("", "-wal", "-shm", ".bak"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    mapping = load_mapping(example_mapping("electricity"))

    t0 = time.perf_counter()
    counts = generate(create_engine(url), "electricity", size=args.size)
    rows = counts["readings"] + counts["vouchers"]
    t1 = time.perf_counter()
    engine = conversion_engine(url)
    with engine.connect() as conn:
        plan = build_plan(conn, mapping)
    t2 = time.perf_counter()
    with Reporter(quiet=True) as reporter:
        result = apply(engine, mapping, backup_path=Path(f"{db}.bak"), reporter=reporter)
        t3 = time.perf_counter()
        checks = verify(engine, mapping, result.plan, reporter)
        t4 = time.perf_counter()
        finish(engine, result.plan, reporter)
    assert checks.ok and not plan.blocking
    print(f"rows: {counts}  ({rows:,} owned rows, {db.stat().st_size / 1e6:.0f} MB)")
    print(f"generate   {t1 - t0:6.1f} s")
    print(f"dry run    {t2 - t1:6.1f} s  {rows / (t2 - t1):>12,.0f} rows/s")
    print(f"apply      {t3 - t2:6.1f} s  {rows / (t3 - t2):>12,.0f} rows/s "
          "(backup + snapshot checksums + copy + swap + indexes)")
    print(f"verify     {t4 - t3:6.1f} s  {rows / (t4 - t3):>12,.0f} rows/s")
    print(f"total      {t4 - t1:6.1f} s  {rows / (t4 - t1):>12,.0f} rows/s (dry run to verified)")


if __name__ == "__main__":
    main()
