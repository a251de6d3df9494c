"""One export in a fresh process: ``python -m bench.export_worker MODE DB TENANT_HEX USER_ID``.

Prints JSON: rows, seconds, peak RSS (VmHWM). MODE is ``tenantry`` (stream_export)
or ``bare``: what one would write by hand for the same rows (below), no ORM; ``csv``:
the readings CSV meterbook's download writes, by hand (and its SHA-256).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, BinaryIO

import orjson


def _hwm_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text + "+00:00")  # SQLite holds naive UTC text


def _reading(r: tuple[Any, ...]) -> tuple[Any, ...]:
    return (_utc(r[0]), r[1], r[2], bool(r[3]), r[4], _utc(r[5]), r[6])


def _voucher(r: tuple[Any, ...]) -> tuple[Any, ...]:
    return (date.fromisoformat(r[0]), *r[1:8], _utc(r[8]), r[9])


# Each tenant table as tenantry's export writes it: every column but tenant_id under its
# attribute name, times as ISO-8601 UTC, booleans as booleans, rows in key order.
_BARE: dict[str, tuple[str, tuple[str, ...], Callable[[tuple[Any, ...]], tuple[Any, ...]]]] = {
    "readings": (
        "SELECT read_at, meter_wh, note, is_replacement, user_id, created_at, id"
        " FROM readings WHERE tenant_id = ? ORDER BY id",
        ("read_at", "meter_wh", "note", "is_replacement", "created_by", "created_at", "id"),
        _reading,
    ),
    "vouchers": (
        "SELECT purchased_on, amount_minor, currency, energy_wh, token_number, vendor, notes,"
        " user_id, created_at, id FROM vouchers WHERE tenant_id = ? ORDER BY id",
        ("purchased_on", "amount_minor", "currency", "energy_wh", "token_number", "vendor",
         "notes", "created_by", "created_at", "id"),
        _voucher,
    ),
}  # fmt: skip


def _bare(db_path: str, tenant_hex: str, sink: BinaryIO) -> int:
    """``{table: [rows]}`` with sqlite3, a conversion per row and orjson; no members,
    summary or checksums, so a floor for the same rows."""
    con = sqlite3.connect(db_path)
    rows = 0
    for table, (sql, keys, convert) in _BARE.items():
        cur = con.execute(sql, (tenant_hex,))
        sink.write(orjson.dumps(table) + b":[")
        first = True
        while batch := cur.fetchmany(1000):
            out = [orjson.dumps(dict(zip(keys, convert(r), strict=True))) for r in batch]
            sink.write((b"" if first else b",") + b",".join(out))
            first = False
            rows += len(batch)
        sink.write(b"]")
    return rows


def _bare_csv(db_path: str, tenant_hex: str, sink: BinaryIO) -> tuple[int, str]:
    """The readings as meterbook's ``GET /api/readings.csv`` writes them (its columns,
    formats and formula guard), with sqlite3 and the csv module: rows and SHA-256."""
    from meterbook.domain import kwh_text
    from meterbook.domain.csvfile import READING_COLUMNS, guarded

    con = sqlite3.connect(db_path)
    cur = con.execute(
        "SELECT read_at, meter_wh, note, is_replacement FROM readings WHERE tenant_id = ?"
        " ORDER BY read_at",
        (tenant_hex,),
    )
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(READING_COLUMNS)
    digest, rows = hashlib.sha256(), 0
    while batch := cur.fetchmany(1000):
        for at, wh, note, repl in batch:
            writer.writerow(
                (_utc(at).isoformat(), kwh_text(wh), guarded(note), "yes" if repl else "no")
            )
        chunk = text.getvalue().encode()
        text.seek(0)
        text.truncate()
        digest.update(chunk)
        sink.write(chunk)
        rows += len(batch)
    chunk = text.getvalue().encode()
    digest.update(chunk)
    sink.write(chunk)
    return rows, digest.hexdigest()


def main() -> None:
    mode, db_path, tenant_hex, user_id = sys.argv[1:5]
    start = time.perf_counter()
    rows = 0
    extra: dict[str, str] = {}
    with open("/dev/null", "wb") as sink:
        if mode == "tenantry":
            import meterbook.models  # noqa: F401  (registers the tenant tables)
            from tenantry.context import TenantContext, tenant_scope
            from tenantry.db import Database
            from tenantry.export import stream_export
            from tenantry.roles import Role
            from tenantry.runtime import freeze_startup_objects

            db = Database(f"sqlite:///{db_path}")
            ctx = TenantContext(uuid.UUID(hex=tenant_hex), int(user_id), Role.OWNER)  # type: ignore[arg-type]
            freeze_startup_objects()  # as `tenantry tenants export` does before streaming
            start = time.perf_counter()
            tail = b""
            with tenant_scope(ctx), db.read_sessions() as session:
                for chunk in stream_export(session, ctx.tenant_id):
                    sink.write(chunk)
                    tail = chunk
            rows = orjson.loads(tail[tail.rindex(b'"summary":') + 10 : -1])["total_rows"]
        elif mode == "csv":
            rows, digest = _bare_csv(db_path, tenant_hex, sink)
            extra["sha256"] = digest
        else:
            rows = _bare(db_path, tenant_hex, sink)
    seconds = time.perf_counter() - start
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": _hwm_kb() / 1024, **extra}))


if __name__ == "__main__":
    main()
