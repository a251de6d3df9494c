"""Purging tenants with databases of their own: the database goes once the purge committed.

A purged tenant's databases are found by name (``tenant_<id>``) on every configured
server, not by its placement row (which the purge deletes): so a copy an interrupted
move left on another server goes too, and a drop that failed (a server down) is done
by the next purge, which looks for every database whose tenant is gone. ``doctor``
reports such databases until then.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from tenantry.models import AuditEvent, PlacementKind, Tenant, TenantPlacement, TenantStatus
from tenantry.placement import provision
from tenantry.placement.config import PlacementConfig
from tenantry.placement.location import Location, tenant_of_database
from tenantry.retention import PURGED, Purged, purge_expired

if TYPE_CHECKING:
    from tenantry.placement.router import Placements

log = logging.getLogger("tenantry.placement")


@dataclass(slots=True)
class Leftovers:
    """Databases of tenants that are gone: ``dropped``, and what could not be done."""

    dropped: list[Location] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def dedicated_due(session: Session, *, now: datetime | None = None) -> bool:
    """Whether a tenant due for purge (at ``now``) has a database of its own: purging it
    without the placement configuration would leave that database behind."""
    found = session.scalar(
        select(TenantPlacement.tenant_id)
        .join(Tenant, Tenant.id == TenantPlacement.tenant_id)
        .where(
            Tenant.status == TenantStatus.DELETED.value,
            Tenant.purge_after <= (now or datetime.now(UTC)),
            TenantPlacement.kind == PlacementKind.DEDICATED.value,
        )
        .limit(1)
    )
    return found is not None


def orphans(config: PlacementConfig, control: Engine) -> Leftovers:
    """Every database named for a tenant the control database purged (its ``tenant.purged``
    record, no tenant row), on every configured server; ``failed`` names the servers that
    could not be asked."""
    found: dict[uuid.UUID, list[Location]] = {}
    out = Leftovers()
    for name, server in sorted(config.servers.items()):
        try:
            databases = provision.tenant_databases(server)
        except Exception as exc:  # any driver's error: a server down or refusing
            out.failed.append(f"server {name!r} could not be asked: {type(exc).__name__}")
            continue
        for database in databases:
            tenant_id = tenant_of_database(database)
            if tenant_id is not None:
                location = Location(PlacementKind.DEDICATED.value, name, database)
                found.setdefault(tenant_id, []).append(location)
    if found:
        # Only tenants this control database purged: a database another deployment keeps
        # on the same server is named alike, and is not ours to drop.
        with Session(control) as session:
            alive = set(session.scalars(select(Tenant.id).where(Tenant.id.in_(found))))
            purged = set(
                session.scalars(
                    select(AuditEvent.tenant_id).where(
                        AuditEvent.action == PURGED, AuditEvent.tenant_id.in_(found)
                    )
                )
            )
        out.dropped = [
            loc for t, locs in found.items() if t in purged and t not in alive for loc in locs
        ]
    return out


def drop_orphans(
    config: PlacementConfig, control: Engine, drop: Callable[[Location], None]
) -> Leftovers:
    """Drop every database :func:`orphans` finds; ``failed`` says what could not be
    dropped (the next call tries again)."""
    found = orphans(config, control)
    done = Leftovers(failed=found.failed)
    for location in found.dropped:
        try:
            drop(location)
        except Exception as exc:
            done.failed.append(f"{location.describe()} could not be dropped: {type(exc).__name__}")
        else:
            done.dropped.append(location)
    return done


def dropping(config: PlacementConfig, location: Location) -> None:
    """Drop a dedicated ``location``'s database (no cached engine to close: the CLI's)."""
    provision.drop_database(config.server(location.server or ""), location.database or "")


def purge_with_databases(
    session: Session, placements: Placements, *, now: datetime | None = None
) -> list[Purged]:
    """:func:`tenantry.retention.purge_expired`, and the databases of every tenant that is
    gone dropped after ``session`` commits (never while one could still be served), their
    cached engines closed with them. A drop that fails is logged and tried by the next
    purge."""
    purged = purge_expired(session, now=now or datetime.now(UTC))

    def drop(_session: Session) -> None:
        done = drop_orphans(placements.config, placements.control.engine, placements.drop_dedicated)
        for location in done.dropped:
            log.info("dropped the database of a purged tenant: %s", location.describe())
        for problem in done.failed:
            log.warning("purge: %s; the next purge tries again", problem)

    event.listen(session, "after_commit", drop, once=True)
    return purged
