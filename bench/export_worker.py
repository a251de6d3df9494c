"""One export in a fresh process: ``python -m bench.export_worker MODE DB TENANT_HEX USER_ID``.

Prints JSON: rows, seconds, peak RSS (VmHWM). MODE is ``tenantry`` (stream_export)
or ``bare`` (sqlite3 cursor + orjson per row, the same document shape, no ORM).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
import uuid

import orjson


def _hwm_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    mode, db_path, tenant_hex, user_id = sys.argv[1:5]
    start = time.perf_counter()
    rows = 0
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
        else:
            con = sqlite3.connect(db_path)
            cols = ["id", "read_at", "meter_wh", "note", "is_replacement", "created_by"]
            for table in ("readings", "vouchers"):
                sql = (
                    "SELECT id, read_at, meter_wh, note, is_replacement, user_id FROM readings"
                    " WHERE tenant_id = ?"
                    if table == "readings"
                    else "SELECT id, purchased_on, amount_minor, notes, 0, user_id FROM vouchers"
                    " WHERE tenant_id = ?"
                )
                cur = con.execute(sql, (tenant_hex,))
                sink.write(orjson.dumps(table) + b":[")
                first = True
                while batch := cur.fetchmany(1000):
                    out = [orjson.dumps(dict(zip(cols, r, strict=True))) for r in batch]
                    sink.write((b"" if first else b",") + b",".join(out))
                    first = False
                    rows += len(batch)
                sink.write(b"]")
    seconds = time.perf_counter() - start
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": _hwm_kb() / 1024}))


if __name__ == "__main__":
    main()
