"""Benchmark ``tenantize`` on a large electricity database (SQLite, 1M+ rows).

    .venv/bin/python bench/tenantize.py [--size large] [--dir bench/out]

Prints the time of each phase and rows/s; the copy phase is the one that scales.
"""

from __future__ import annotations

import argparse
import shutil
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="large")
    parser.add_argument("--dir", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    db = args.dir / f"electricity-{args.size}.sqlite"
    pristine = args.dir / f"electricity-{args.size}.legacy.sqlite"
    for suffix in ("", "-wal", "-shm", ".bak"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    mapping = load_mapping(example_mapping("electricity"))

    t0 = time.perf_counter()
    if not pristine.exists():  # generating takes longer than converting: keep a copy
        generate(create_engine(f"sqlite:///{pristine}"), "electricity", size=args.size)
    shutil.copy(pristine, db)
    t1 = time.perf_counter()
    copy_seconds: dict[str, float] = {}
    convert_table = sqlite_convert.convert_table

    def timed(engine: Any, plan: Any, *rest: Any) -> None:
        start = time.perf_counter()
        convert_table(engine, plan, *rest)
        copy_seconds[plan.name] = time.perf_counter() - start

    sqlite_convert.convert_table = timed
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
    assert checks.ok
    assert not plan.blocking
    counts = {t.name: t.rows for t in plan.tables}
    rows = sum(counts.values())
    print(f"rows: {counts}  ({rows:,} owned rows, {pristine.stat().st_size / 1e6:.0f} MB)")
    print(f"generate   {t1 - t0:6.1f} s  (or copy the kept legacy file)")
    for name, seconds in copy_seconds.items():
        print(
            f"  convert {name:<10} {seconds:5.1f} s  {counts[name] / seconds:>12,.0f} rows/s "
            "(copy with tenant_id, swap, indexes)"
        )
    print(f"dry run    {t2 - t1:6.1f} s  {rows / (t2 - t1):>12,.0f} rows/s")
    print(
        f"apply      {t3 - t2:6.1f} s  {rows / (t3 - t2):>12,.0f} rows/s "
        "(backup + snapshot checksums + copy + swap + indexes)"
    )
    print(f"verify     {t4 - t3:6.1f} s  {rows / (t4 - t3):>12,.0f} rows/s")
    print(f"total      {t4 - t1:6.1f} s  {rows / (t4 - t1):>12,.0f} rows/s (dry run to verified)")


if __name__ == "__main__":
    main()
