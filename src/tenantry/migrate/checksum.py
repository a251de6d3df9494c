"""An order-independent checksum of a table's columns, equal on both sides of a rebuild."""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection

from tenantry.migrate.progress import Reporter

_MOD = 2**128


def table_checksum(
    conn: Connection, table: str, columns: list[str], reporter: Reporter | None = None
) -> tuple[int, str]:
    """Row count and a checksum over ``columns`` of every row.

    Each row's values are hashed (BLAKE2b) and the hashes summed: the order rows
    come back in does not matter, a changed, lost or added row does.
    """
    q = conn.dialect.identifier_preparer.quote
    sql = f"SELECT {', '.join(q(c) for c in columns)} FROM {q(table)}"
    total = 0
    count = 0
    result = conn.exec_driver_sql(sql).yield_per(20_000)
    task = reporter.task(f"checksum {table}", None) if reporter else None
    for rows in result.partitions():
        for row in rows:
            digest = hashlib.blake2b(repr(tuple(row)).encode(), digest_size=16).digest()
            total += int.from_bytes(digest, "big")
        count += len(rows)
        if task:
            task.advance(len(rows))
    if task:
        task.finish()
    return count, f"{total % _MOD:032x}"
