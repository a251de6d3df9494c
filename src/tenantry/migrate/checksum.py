"""A checksum of a table's columns that is equal on both sides of a rebuild."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from tenantry.migrate.progress import Reporter

BATCH = 20_000


def table_checksum(
    conn: Connection,
    table: str,
    columns: list[str],
    reporter: Reporter | None = None,
    *,
    order_by: list[str] | None = None,
    where: str | None = None,
    params: Sequence[Any] = (),
) -> tuple[int, str]:
    """Row count and a BLAKE2b digest over ``columns`` of every row.

    Rows are read in the order of ``order_by`` (the legacy primary key, which a
    rebuild keeps unique; all the columns when there is none) and hashed a batch
    at a time, so a changed, lost, added or duplicated row changes the digest.
    The raw DB-API cursor is used: building SQLAlchemy rows would triple the cost.
    ``where`` (in the driver's parameter style, with ``params``) limits the rows:
    one tenant's, when a placement move compares its copies.
    """
    q = conn.dialect.identifier_preparer.quote
    order = ", ".join(q(c) for c in (order_by or columns))
    condition = f" WHERE {where}" if where else ""
    sql = f"SELECT {', '.join(q(c) for c in columns)} FROM {q(table)}{condition} ORDER BY {order}"
    digest = hashlib.blake2b(digest_size=16)
    count = 0
    task = reporter.task(f"checksum {table}", None) if reporter else None
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, tuple(params)) if params else cursor.execute(sql)
        while rows := cursor.fetchmany(BATCH):
            digest.update(repr([tuple(r) for r in rows]).encode())
            count += len(rows)
            if task:
                task.advance(len(rows))
    finally:
        cursor.close()
    if task:
        task.finish()
    return count, digest.hexdigest()
