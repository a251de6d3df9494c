"""Conversion state kept in the database itself, so a killed run can be finished.

Every step writes its row in the same transaction as its work: a step is either
done and recorded, or not done at all.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

from tenantry.migrate.schema import has_table

STATE_TABLE = "tenantry_tenantize_state"
SNAPSHOT_TABLE = "tenantry_tenantize_snapshot"
RUN = "run"
STUCK = "stuck"  # why an interrupted run cannot be finished by --apply (its reason)


def ensure_tables(conn: Connection) -> None:
    conn.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (step VARCHAR(200) PRIMARY KEY, "
        "status VARCHAR(20) NOT NULL, info TEXT NOT NULL, updated_at VARCHAR(40) NOT NULL)"
    )
    conn.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {SNAPSHOT_TABLE} (table_name VARCHAR(200) PRIMARY KEY, "
        "row_count BIGINT NOT NULL, checksum VARCHAR(64) NOT NULL, columns TEXT NOT NULL)"
    )


def get(conn: Connection, step: str) -> tuple[str, dict[str, Any]] | None:
    """The status and info of ``step``, or ``None`` if it never ran (or no state exists)."""
    if not has_table(conn, STATE_TABLE):
        return None
    row = conn.execute(
        text(f"SELECT status, info FROM {STATE_TABLE} WHERE step = :s"), {"s": step}
    ).first()
    return (str(row[0]), json.loads(row[1])) if row else None


def put(conn: Connection, step: str, status: str, info: dict[str, Any] | None = None) -> None:
    params = {
        "s": step,
        "st": status,
        "i": json.dumps(info or {}, default=str),
        "u": datetime.now(UTC).isoformat(),
    }
    updated = conn.execute(
        text(f"UPDATE {STATE_TABLE} SET status = :st, info = :i, updated_at = :u WHERE step = :s"),
        params,
    )
    if updated.rowcount == 0:
        conn.execute(
            text(
                f"INSERT INTO {STATE_TABLE} (step, status, info, updated_at) "
                "VALUES (:s, :st, :i, :u)"
            ),
            params,
        )


def clear(conn: Connection, step: str) -> None:
    if has_table(conn, STATE_TABLE):
        conn.execute(text(f"DELETE FROM {STATE_TABLE} WHERE step = :s"), {"s": step})


def stuck(conn: Connection) -> str | None:
    """Why the recorded run cannot be finished as the database now is, or ``None``."""
    found = get(conn, STUCK)
    return str(found[1]["reason"]) if found else None


def done(conn: Connection, step: str) -> bool:
    found = get(conn, step)
    return found is not None and found[0] == "done"


def run_status(conn: Connection) -> str | None:
    """``None`` (never converted), ``converting`` (interrupted) or ``done``."""
    found = get(conn, RUN)
    return found[0] if found else None


Snapshot = tuple[int, str, list[str], list[str]]  # rows, checksum, columns, order key


def save_snapshot(conn: Connection, rows: dict[str, Snapshot]) -> None:
    for name, (count, checksum, columns, key) in rows.items():
        conn.execute(
            text(
                f"INSERT INTO {SNAPSHOT_TABLE} (table_name, row_count, checksum, columns) "
                "VALUES (:n, :c, :h, :cols)"
            ),
            {
                "n": name,
                "c": count,
                "h": checksum,
                "cols": json.dumps({"columns": columns, "key": key}),
            },
        )


def load_snapshot(conn: Connection) -> dict[str, Snapshot]:
    rows = conn.exec_driver_sql(
        f"SELECT table_name, row_count, checksum, columns FROM {SNAPSHOT_TABLE}"
    )
    result: dict[str, Snapshot] = {}
    for name, count, checksum, raw in rows:
        spec = json.loads(raw)
        result[str(name)] = (int(count), str(checksum), list(spec["columns"]), list(spec["key"]))
    return result
