"""Where a new tenant goes: its plan decides, else the default; dedicated: least-loaded server."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tenantry.models.placement import PlacementKind, TenantPlacement
from tenantry.placement.config import PlacementConfig, PlacementConfigError
from tenantry.placement.location import SHARED, Location, database_name


def server_loads(session: Session, config: PlacementConfig) -> dict[str, int]:
    """Dedicated tenants per configured server (0 for a server with none)."""
    counts = dict(
        session.execute(
            select(TenantPlacement.server, func.count())
            .where(TenantPlacement.kind == PlacementKind.DEDICATED.value)
            .group_by(TenantPlacement.server)
        ).all()
    )
    return {name: int(counts.get(name, 0)) for name in config.servers}


def least_loaded(session: Session, config: PlacementConfig) -> str:
    """The server with the fewest dedicated tenants; the first in the file on a tie."""
    loads = server_loads(session, config)
    if not loads:
        raise PlacementConfigError("no placement server is configured for dedicated tenants")
    return min(loads, key=lambda name: loads[name])  # min keeps the first of equals


def choose(
    session: Session,
    config: PlacementConfig,
    tenant_id: uuid.UUID,
    plan: str | None,
    *,
    kind: str | None = None,
    server: str | None = None,
) -> Location:
    """The placement for ``tenant_id``: ``kind`` if given, else its plan's, else the default."""
    kind = kind or config.plans.get(plan or "", config.default)
    if kind == PlacementKind.SHARED.value:
        return SHARED
    if server is not None:
        config.server(server)  # raises, naming the known servers
    else:
        server = least_loaded(session, config)
    return Location(PlacementKind.DEDICATED.value, server, database_name(tenant_id))
