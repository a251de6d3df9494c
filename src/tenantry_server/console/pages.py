"""Console pages: the tenant list, a tenant's page with its actions, database health."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from tenantry import audit, fleet, retention, tenants
from tenantry.errors import Conflict, ValidationFailed
from tenantry.models import TenantStatus
from tenantry.placement.moves import placement_view, placement_views
from tenantry.plans import PlanChangeRefused
from tenantry.web import DbSession, PlatformAdmin, get_tenancy, require_platform_admin
from tenantry.web.routes.admin import operations_of
from tenantry.web.routes.admin_placement import start_move
from tenantry_server.console.render import FIELD, check_csrf, render

router = APIRouter(
    prefix="/console", dependencies=[Depends(require_platform_admin)], include_in_schema=False
)
NOTICES = {
    "suspended": "Tenant suspended: its members are refused until it is reactivated.",
    "reactivated": "Tenant reactivated.",
    "plan": "Plan changed.",
    "deleted": "Tenant deleted.",
    "move": "Move started: this page follows it until it is done.",
}
# While a move runs the tenant's page reloads itself (no script: the CSP allows none
# inline); each reload is a look at the tenant, audited like any other.
FOLLOW_SECONDS = 5


async def _form(request: Request, admin: PlatformAdmin) -> dict[str, str]:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    check_csrf(request, admin, fields.get(FIELD))
    return fields


ConsoleForm = Annotated[dict[str, str], Depends(_form)]
"""The posted form, its CSRF token checked, before the (``def``) page runs."""


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("")
def tenant_list(
    request: Request,
    admin: PlatformAdmin,
    session: DbSession,
    q: str = Query(default="", max_length=200),
    sort: Literal["created", "name", "slug"] = "created",
    order: Literal["asc", "desc"] = "desc",
    cursor: str | None = Query(default=None, max_length=500),
    msg: str = "",
) -> Response:
    page = fleet.list_tenants(
        session,
        actor_id=admin.id,
        sizes=operations_of(request).sizes,
        q=q,
        sort=sort,
        descending=order == "desc",
        cursor=cursor,
        limit=50,
    )
    where = placement_views(session, [t.id for t in page.items])
    return render(request, "tenants.html", admin, page=page, where=where, notice=NOTICES.get(msg))


@router.get("/tenants/{tenant_id}")
def tenant_page(
    tenant_id: uuid.UUID,
    request: Request,
    admin: PlatformAdmin,
    session: DbSession,
    msg: str = "",
    before: int | None = Query(default=None, ge=1),
) -> Response:
    return _tenant(request, admin, session, tenant_id, notice=NOTICES.get(msg), before=before)


def _tenant(
    request: Request,
    admin: PlatformAdmin,
    session: DbSession,
    tenant_id: uuid.UUID,
    *,
    notice: str | None = None,
    error: str | None = None,
    before: int | None = None,
    status: int = 200,
) -> Response:
    summary = fleet.tenant_summary(
        session,
        tenant_id,
        actor_id=admin.id,
        sizes=operations_of(request).sizes,
    )
    events = audit.events(session, tenant_id, before_id=before, limit=50)
    billing = get_tenancy(request).billing
    placements = get_tenancy(request).placements
    return render(
        request,
        "tenant.html",
        admin,
        status=status,
        t=summary,
        members=tenants.members(session, tenant_id),
        events=events,
        plans=get_tenancy(request).catalogue.plans,
        billing=billing.view(session, tenant_id) if billing is not None else None,
        older=events[-1].id if len(events) == 50 else None,
        placement=placement_view(session, tenant_id),
        refresh=FOLLOW_SECONDS,
        servers=sorted(placements.config.servers) if placements is not None else None,
        notice=notice,
        error=error,
    )


@router.post("/tenants/{tenant_id}/suspend")
def suspend(
    tenant_id: uuid.UUID,
    request: Request,
    admin: PlatformAdmin,
    session: DbSession,
    fields: ConsoleForm,
) -> Response:
    try:
        fleet.set_status(
            session, tenant_id=tenant_id, actor_id=admin.id, status=TenantStatus.SUSPENDED
        )
    except Conflict as exc:  # deleted; or, reactivating, it owes a payment
        return _tenant(request, admin, session, tenant_id, error=exc.message, status=exc.status)
    return _see(f"/console/tenants/{tenant_id}?msg=suspended")


@router.post("/tenants/{tenant_id}/reactivate")
def reactivate(
    tenant_id: uuid.UUID,
    request: Request,
    admin: PlatformAdmin,
    session: DbSession,
    fields: ConsoleForm,
) -> Response:
    try:
        fleet.set_status(
            session, tenant_id=tenant_id, actor_id=admin.id, status=TenantStatus.ACTIVE
        )
    except Conflict as exc:  # deleted; or, reactivating, it owes a payment
        return _tenant(request, admin, session, tenant_id, error=exc.message, status=exc.status)
    return _see(f"/console/tenants/{tenant_id}?msg=reactivated")


@router.post("/tenants/{tenant_id}/plan")
def change_plan(
    tenant_id: uuid.UUID,
    request: Request,
    admin: PlatformAdmin,
    session: DbSession,
    fields: ConsoleForm,
) -> Response:
    try:
        fleet.change_plan(
            session,
            tenant_id=tenant_id,
            actor_id=admin.id,
            plan=fields.get("plan", "")[:64],
            catalogue=get_tenancy(request).catalogue,
        )
    except (ValidationFailed, Conflict, PlanChangeRefused) as exc:
        return _tenant(request, admin, session, tenant_id, error=exc.message, status=422)
    return _see(f"/console/tenants/{tenant_id}?msg=plan")


@router.post("/tenants/{tenant_id}/delete")
def delete(
    tenant_id: uuid.UUID,
    request: Request,
    admin: PlatformAdmin,
    session: DbSession,
    fields: ConsoleForm,
) -> Response:
    """The core's (soft) deletion; the operator must type the tenant's slug or name."""
    try:
        retention.delete_tenant(
            session,
            tenant_id=tenant_id,
            actor_id=admin.id,
            confirm=fields.get("confirm", "")[:200],
            grace=get_tenancy(request).config.deletion_grace,
        )
    except ValidationFailed as exc:
        return _tenant(request, admin, session, tenant_id, error=exc.message, status=422)
    return _see("/console?msg=deleted")


@router.post("/tenants/{tenant_id}/move")
def move(
    tenant_id: uuid.UUID,
    request: Request,
    admin: PlatformAdmin,
    session: DbSession,
    fields: ConsoleForm,
) -> Response:
    """Start a move as a platform job; ``target`` is ``shared``, ``dedicated`` (the
    least-loaded server) or ``dedicated:NAME``."""
    to, _, server = fields.get("target", "")[:100].partition(":")
    try:
        start_move(request, session, tenant_id, to=to, server=server or None, actor_id=admin.id)
    except (ValidationFailed, Conflict) as exc:
        return _tenant(request, admin, session, tenant_id, error=exc.message, status=exc.status)
    return _see(f"/console/tenants/{tenant_id}?msg=move#placement")


@router.get("/database")
def database(request: Request, admin: PlatformAdmin) -> Response:
    return render(request, "database.html", admin, health=operations_of(request).health())


@router.post("/database/doctor")
def doctor(
    request: Request, admin: PlatformAdmin, session: DbSession, fields: ConsoleForm
) -> Response:
    audit.record(session, "platform.doctor_run", tenant_id=None, actor_id=admin.id)
    ops = operations_of(request)
    return render(request, "database.html", admin, health=ops.health(), report=ops.doctor())
