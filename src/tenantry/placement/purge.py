"""Purging tenants with databases of their own: the database goes once the purge committed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from tenantry.models import PlacementKind, Tenant, TenantPlacement, TenantStatus
from tenantry.placement.location import Location
from tenantry.retention import Purged, purge_expired

if TYPE_CHECKING:
    from tenantry.placement.router import Placements


def dedicated_of_due(
    session: Session, *, now: datetime | None = None
) -> dict[uuid.UUID, tuple[str, str]]:
    """Server and database of each tenant due for purge (at ``now``) that has a database
    of its own."""
    rows = session.execute(
        select(TenantPlacement.tenant_id, TenantPlacement.server, TenantPlacement.database)
        .join(Tenant, Tenant.id == TenantPlacement.tenant_id)
        .where(
            Tenant.status == TenantStatus.DELETED.value,
            Tenant.purge_after <= (now or datetime.now(UTC)),
            TenantPlacement.kind == PlacementKind.DEDICATED.value,
        )
    ).all()
    return {t: (str(server), str(database)) for t, server, database in rows}


def purge_with_databases(
    session: Session, placements: Placements, *, now: datetime | None = None
) -> list[Purged]:
    """:func:`tenantry.retention.purge_expired`, and each purged tenant's own database
    dropped after ``session`` commits (never while it could still be served), its cached
    engine closed with it."""
    moment = now or datetime.now(UTC)  # one moment for both: every purged database goes
    own = dedicated_of_due(session, now=moment)
    purged = purge_expired(session, now=moment)
    doomed = [own[p.tenant_id] for p in purged if p.tenant_id in own]
    if doomed:

        def drop(_session: Session) -> None:
            for server, database in doomed:
                placements.drop_dedicated(Location(PlacementKind.DEDICATED.value, server, database))

        event.listen(session, "after_commit", drop, once=True)
    return purged
