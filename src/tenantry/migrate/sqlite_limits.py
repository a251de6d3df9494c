"""What SQLite's rebuild of an owned table cannot do, found by the dry run before any change."""

from __future__ import annotations

import re

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from tenantry.migrate.identifiers import quoted as _q

# What the rebuild does not carry over (docs/tenantize.md, Known limits): a warning each.
_NOT_CARRIED = {"CHECK constraint": r"\bCHECK\s*\(", "column collation": r"\bCOLLATE\b"}


def _table_sql(conn: Connection, table: str) -> str | None:
    return conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar()


def rebuild_losses(conn: Connection, table: str) -> list[str]:
    """A warning for each kind of declaration the table has that its rebuild drops: the
    dry run says so, not only the known limits (a word inside a quoted default can raise
    a needless warning, never hide one)."""
    sql = _table_sql(conn, table)
    return [
        f"{table}: its {what}(s) will not be carried over by the rebuild; add them back "
        "in a migration if the app relies on them"
        for what, pattern in _NOT_CARRIED.items()
        if sql and re.search(pattern, sql, re.IGNORECASE)
    ]


def without_rowid(conn: Connection, table: str) -> bool:
    """Whether ``table`` is a ``WITHOUT ROWID`` table: the rebuild copies rows by rowid."""
    try:  # SQLite 3.37+ says so itself
        found = conn.exec_driver_sql(
            "SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?", (table,)
        ).scalar()
        return bool(found)
    except OperationalError:  # SQLite before 3.37: read the declaration
        sql = _table_sql(conn, table) or ""
        return re.search(r"\bWITHOUT\s+ROWID\b", sql, re.IGNORECASE) is not None


def generated_columns(conn: Connection, table: str) -> list[str]:
    """The generated (computed) columns of ``table``, which the rebuild cannot copy into."""
    return [
        str(name)
        for _cid, name, _decl, _nn, _default, _pk, hidden in conn.exec_driver_sql(
            f"PRAGMA table_xinfo({_q(table)})"
        )
        if hidden in (2, 3)  # 2: VIRTUAL, 3: STORED (1 is a virtual table's hidden column)
    ]


def views_reading(conn: Connection, tables: set[str]) -> dict[str, list[str]]:
    """The views whose SQL names one of ``tables``: ``{view: [table, …]}``.

    SQLite records no dependencies, so this reads each view's SQL for the table names as
    whole words: a name inside a string literal can raise a needless warning, never hide one.
    """
    found: dict[str, list[str]] = {}
    for view, sql in conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY name"
    ):
        read = sorted(t for t in tables if re.search(rf"\b{re.escape(t)}\b", sql or "", re.I))
        if read:
            found[str(view)] = read
    return found
