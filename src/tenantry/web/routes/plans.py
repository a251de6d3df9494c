"""The plan API: the catalogue, a tenant's plan and use, plan changes, platform overrides."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy.orm import Session

from tenantry import plans
from tenantry.context import TenantContext, tenant_scope
from tenantry.ids import TenantId, UserId
from tenantry.models import User
from tenantry.roles import Role
from tenantry.web.deps import DbSession, OwnerContext, ViewerContext, get_tenancy
from tenantry.web.plan_schemas import CatalogueOut, OverrideIn, PlanChangeIn, TenantPlanOut
from tenantry.web.platform import PlatformAdmin

router = APIRouter(prefix="/api", tags=["plans"])


def report(request: Request, session: Session, tenant_id: uuid.UUID) -> TenantPlanOut:
    tenancy = get_tenancy(request)
    return TenantPlanOut.of(
        plans.usage_report(session, tenant_id, catalogue=tenancy.catalogue, meter=tenancy.meter)
    )


@contextmanager
def _acting_on(tenant_id: uuid.UUID, admin: User) -> Iterator[None]:
    """A platform admin works inside the tenant's scope, so counts see its rows (RLS too)."""
    with tenant_scope(TenantContext(TenantId(tenant_id), UserId(admin.id), Role.OWNER)):
        yield


@router.get("/plans")
async def catalogue(request: Request) -> CatalogueOut:
    """The plans on offer, cheapest first."""
    return CatalogueOut.of(get_tenancy(request).catalogue)


@router.get("/tenant/plan")
def tenant_plan(ctx: ViewerContext, request: Request, session: DbSession) -> TenantPlanOut:
    """The tenant's plan, effective limits and features, use this period, and alerts."""
    return report(request, session, ctx.tenant_id)


@router.put("/tenant/plan")
def change_plan(
    body: PlanChangeIn, ctx: OwnerContext, request: Request, session: DbSession
) -> TenantPlanOut:
    """Change plan (owners). A downgrade below current use is refused with what must go.

    With billing on, plans are bought and left through Stripe instead (409 ``billing_required``).
    """
    if get_tenancy(request).billing is not None:
        raise plans.PlanBilled()
    plans.change_plan(
        session,
        tenant_id=ctx.tenant_id,
        plan=body.plan,
        actor_id=ctx.user_id,
        catalogue=get_tenancy(request).catalogue,
    )
    session.flush()
    return report(request, session, ctx.tenant_id)


@router.get("/admin/tenants/{tenant_id}/plan")
def admin_tenant_plan(
    tenant_id: uuid.UUID, admin: PlatformAdmin, request: Request, session: DbSession
) -> TenantPlanOut:
    with _acting_on(tenant_id, admin):
        return report(request, session, tenant_id)


@router.put("/admin/tenants/{tenant_id}/plan")
def admin_change_plan(
    tenant_id: uuid.UUID,
    body: PlanChangeIn,
    admin: PlatformAdmin,
    request: Request,
    session: DbSession,
) -> TenantPlanOut:
    """Change any tenant's plan (platform admins); the same checks as an owner's change."""
    with _acting_on(tenant_id, admin):
        plans.change_plan(
            session,
            tenant_id=tenant_id,
            plan=body.plan,
            actor_id=admin.id,
            catalogue=get_tenancy(request).catalogue,
            by_platform_admin=True,
        )
        session.flush()
        return report(request, session, tenant_id)


OverrideName = Annotated[str, Path(min_length=1, max_length=96, pattern=r"^[a-z0-9_.:-]+$")]


@router.put("/admin/tenants/{tenant_id}/overrides/{name}")
def admin_set_override(
    tenant_id: uuid.UUID,
    name: OverrideName,
    body: OverrideIn,
    admin: PlatformAdmin,
    request: Request,
    session: DbSession,
) -> TenantPlanOut:
    """Grant one tenant a limit (``null`` = unlimited) or a feature (``feature:<flag>``)."""
    with _acting_on(tenant_id, admin):
        plans.load_entitlements(session, tenant_id)  # 404 for an unknown tenant
        plans.set_override(
            session,
            tenant_id=tenant_id,
            name=name,
            value=body.value,
            actor_id=admin.id,
            note=body.note,
        )
        return report(request, session, tenant_id)


@router.delete("/admin/tenants/{tenant_id}/overrides/{name}", status_code=204)
def admin_remove_override(
    tenant_id: uuid.UUID, name: OverrideName, admin: PlatformAdmin, session: DbSession
) -> Response:
    with _acting_on(tenant_id, admin):
        plans.load_entitlements(session, tenant_id)
        plans.remove_override(session, tenant_id=tenant_id, name=name, actor_id=admin.id)
    return Response(status_code=204)
