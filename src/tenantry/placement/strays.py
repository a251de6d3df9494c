"""Copies of a tenant outside its placement: what an interrupted move can leave behind.

A move copies into its target before it switches; killed before the switch and then
undone, the target still held the partial copy (rows in the shared tables, or a
dedicated database) with nothing pointing at it. ``doctor`` reports such copies and
``move_tenant`` to where the tenant is removes them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Engine, Uuid, bindparam, text

from tenantry.models.placement import PlacementKind
from tenantry.placement import provision
from tenantry.placement.config import PlacementConfig
from tenantry.placement.location import SHARED, Location, database_name
from tenantry.placement.tables import enter_tenant, tenant_tables
from tenantry.rls.policy import TENANT_COLUMN


@dataclass(frozen=True, slots=True)
class Stray:
    """A copy of the tenant at ``location``, which does not serve it (``rows`` in the
    shared tables; ``None`` for a whole database)."""

    location: Location
    rows: int | None = None

    def describe(self) -> str:
        if self.rows is not None:
            return f"{self.rows} row(s) in the shared tables"
        return self.location.describe()


def shared_rows(control: Engine, tenant_id: uuid.UUID) -> int:
    """The tenant's rows in the control database's tenant tables (as the tenant: RLS)."""
    total = 0
    q = control.dialect.identifier_preparer.quote
    with control.connect() as conn:
        enter_tenant(conn, tenant_id)
        for table in tenant_tables(conn):
            sql = text(f"SELECT count(*) FROM {q(table.name)} WHERE {q(TENANT_COLUMN)} = :t")
            sql = sql.bindparams(bindparam("t", type_=Uuid()))
            total += int(conn.execute(sql, {"t": tenant_id}).scalar_one())
        conn.rollback()
    return total


def stray_copies(
    config: PlacementConfig, control: Engine, tenant_id: uuid.UUID, served: Location
) -> list[Stray]:
    """Every copy of ``tenant_id`` but the one at ``served``: its rows in the shared tables
    when it is served elsewhere, and its database on any other configured server."""
    found: list[Stray] = []
    if not served.is_shared:
        rows = shared_rows(control, tenant_id)
        if rows:
            found.append(Stray(SHARED, rows))
    name = database_name(tenant_id)
    for server_name, server in sorted(config.servers.items()):
        here = Location(PlacementKind.DEDICATED.value, server_name, name)
        if here != served and provision.database_exists(server, name):
            found.append(Stray(here))
    return found
