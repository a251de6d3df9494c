"""``/api/admin/tenants/{id}/placement`` and ``…/move``: where a tenant lives, and moving it.

Behind the platform gate like the rest of ``/api/admin``. A move runs as a
platform job (:mod:`tenantry.placement.moves`); the answer is ``202`` with the
claimed move, and the placement route shows it running, done or failed.
"""

from __future__ import annotations

import uuid

import anyio.from_thread
from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from tenantry.placement.moves import placement_view, queue_move, request_move
from tenantry.tenants import get_tenant
from tenantry.web.deps import DbSession, commit, get_tenancy
from tenantry.web.placement_schemas import MoveIn, PlacementOut
from tenantry.web.platform import PlatformAdmin
from tenantry.web.routes.admin import GATE, PREFIX

router = APIRouter(prefix=PREFIX, tags=["platform admin"], dependencies=GATE)


@router.get("/tenants/{tenant_id}/placement")
def placement(tenant_id: uuid.UUID, admin: PlatformAdmin, session: DbSession) -> PlacementOut:
    get_tenant(session, tenant_id)
    return PlacementOut.of_view(placement_view(session, tenant_id))


def start_move(
    request: Request,
    session: Session,
    tenant_id: uuid.UUID,
    *,
    to: str,
    server: str | None,
    actor_id: int,
) -> None:
    """Claim the move, commit the claim (the job reads it), then queue the job.

    For ``def`` routes (a worker thread): the API's and the console's one way to start a move.
    """
    tenancy = get_tenancy(request)
    request_move(session, tenancy.placements, tenant_id, to=to, server=server, actor_id=actor_id)
    commit(session)
    assert tenancy.placements is not None  # request_move refused otherwise
    anyio.from_thread.run(queue_move, tenancy.jobs, tenancy.placements, tenant_id)


@router.post("/tenants/{tenant_id}/move", status_code=202)
def move(
    tenant_id: uuid.UUID, body: MoveIn, request: Request, admin: PlatformAdmin, session: DbSession
) -> PlacementOut:
    """Start moving the tenant (to ``shared``, or ``dedicated`` on ``server`` or the
    least-loaded one). ``409 move_refused``: it is there already, or a move of it runs."""
    start_move(request, session, tenant_id, to=body.to, server=body.server, actor_id=admin.id)
    return PlacementOut.of_view(placement_view(session, tenant_id))
