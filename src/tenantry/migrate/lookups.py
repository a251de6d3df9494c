"""Indexes tenantize keeps while it runs: a child finds its parent's tenant by the old key.

Once a converted parent's key is ``(tenant_id, id)``, ``WHERE o.id = t.parent_id`` scans
the parent's whole key index for every child row, on PostgreSQL (100k children of 10k
parents: 32 s to fill in, 23 s to verify) as on SQLite (7,000 rows/s to copy). An index
on the old key makes each lookup one probe. They are tenantize's, not the app's: made
before a child's rows are filled in, dropped by the last step.
"""

from __future__ import annotations

from sqlalchemy import Connection

from tenantry.migrate.identifiers import quoted as _q
from tenantry.migrate.plan import Plan, index_name


def _lookups(whole: Plan, names: list[str]) -> list[tuple[str, str]]:
    """The converted parents (and key) whose rows the tenant expressions of ``names``
    look up by key alone: the owner, and the references a mixed_parents policy assigns."""
    found = {
        (ref.table, ref.key)
        for name in names
        for ref in whole.table(name).refs
        if ref.table in whole.order
        and (ref.role == "owner" or ref.column in whole.table(name).assign_mixed)
    }
    return sorted(found)


def _lookup_index(table: str, key: str) -> str:
    return index_name("tenantize_lookup", table, [key])


def lookup_indexes(conn: Connection, whole: Plan, names: list[str]) -> None:
    """An index on each converted parent's key the expressions of ``names`` look up;
    ``IF NOT EXISTS``, so a resumed run or a verification in a rolled-back transaction
    makes each at most once."""
    for table, key in _lookups(whole, names):
        conn.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {_q(_lookup_index(table, key))} ON {_q(table)} ({_q(key)})"
        )


def drop_lookup_indexes(conn: Connection, whole: Plan) -> None:
    """Every lookup index of the run, gone when it is done."""
    for table, key in _lookups(whole, whole.order):
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {_q(_lookup_index(table, key))}")
