"""A database's tenant tables as moves and stray searches see them, and working as a tenant.

Read from the database itself (not the models): a dedicated database or a host's
shared tables may hold tables the process never imported.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter

from sqlalchemy import Connection, inspect, text

from tenantry.errors import TenantryError
from tenantry.rls.policy import TENANT_COLUMN, TENANT_SETTING, is_control_plane


@dataclass(frozen=True, slots=True)
class TenantTable:
    name: str
    columns: list[str]
    key: list[str]  # primary-key columns other than tenant_id: the keyset of batches


def tenant_tables(conn: Connection) -> list[TenantTable]:
    """The database's tenant tables (``tenant_id``, not ``tenantry_*``), parents first."""
    insp = inspect(conn)
    tables: dict[str, TenantTable] = {}
    graph: dict[str, set[str]] = {}
    for name in insp.get_table_names():
        if is_control_plane(name) or name == "alembic_version":
            continue
        columns = [c["name"] for c in insp.get_columns(name)]
        if TENANT_COLUMN not in columns:
            continue
        pk = insp.get_pk_constraint(name).get("constrained_columns") or []
        key = [c for c in pk if c != TENANT_COLUMN] or [c for c in columns if c != TENANT_COLUMN]
        tables[name] = TenantTable(name, columns, key)
        graph[name] = {fk["referred_table"] for fk in insp.get_foreign_keys(name)}
    order = TopologicalSorter({n: deps & set(tables) - {n} for n, deps in graph.items()})
    try:
        return [tables[n] for n in order.static_order()]
    except CycleError as cycle:
        names = ", ".join(sorted(set(cycle.args[1])))
        raise TenantryError(
            f"the tenant tables {names} reference each other in a cycle: "
            "no order copies or removes their rows table by table"
        ) from None


def enter_tenant(conn: Connection, tenant_id: uuid.UUID) -> None:
    """On PostgreSQL, the RLS policies apply to the owner too: work as the tenant."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(f"SELECT set_config('{TENANT_SETTING}', :t, true)"), {"t": str(tenant_id)}
        )
