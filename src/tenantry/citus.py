"""Citus DDL for a schema: tenant tables distributed by tenant_id, everything else reference.

Tenant tables are co-located with each other, so a tenant's rows of every
table live on one node and joins and (tenant_id, …) foreign keys stay local.
The control plane and shared lookup tables become reference tables, copied to
every node. Statements come in foreign-key order: a table's referenced tables
are converted before it.
"""

from __future__ import annotations

from graphlib import TopologicalSorter

from tenantry.inspection import SchemaFacts, TableFacts
from tenantry.rls.policy import TENANT_COLUMN, quote_identifier


def _literal(table: TableFacts, facts: SchemaFacts) -> str:
    name = quote_identifier(table.name)
    if facts.backend == "postgresql" and facts.schema and facts.schema != "public":
        name = f"{quote_identifier(facts.schema)}.{name}"
    return "'" + name.replace("'", "''") + "'"


def _fk_order(tables: list[TableFacts]) -> list[TableFacts]:
    by_name = {t.name: t for t in tables}
    graph = {
        t.name: {fk.referred_table for fk in t.foreign_keys if fk.referred_table in by_name}
        - {t.name}
        for t in tables
    }
    return [by_name[n] for n in TopologicalSorter(graph).static_order()]


def citus_ddl(facts: SchemaFacts) -> list[str]:
    """``create_reference_table`` / ``create_distributed_table`` calls for ``facts``' tables."""
    tenant = _fk_order(sorted(facts.tenant_tables, key=lambda t: t.name))
    reference = _fk_order(
        sorted((t for t in facts.tables if not t.is_tenant_table), key=lambda t: t.name)
    )
    lines = [
        "-- Run once, as the owner, on the Citus coordinator, after the migrations.",
        "-- alembic_version stays a local table on the coordinator.",
    ]
    lines += [f"SELECT create_reference_table({_literal(t, facts)});" for t in reference]
    anchor: str | None = None
    for table in tenant:
        literal = _literal(table, facts)
        if anchor is None:
            lines.append(f"SELECT create_distributed_table({literal}, '{TENANT_COLUMN}');")
            anchor = literal
        else:
            lines.append(
                f"SELECT create_distributed_table({literal}, '{TENANT_COLUMN}', "
                f"colocate_with => {anchor});"
            )
    return lines
