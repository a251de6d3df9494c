"""Household settings: rename, members and roles, invite codes, export, leave, delete."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from meterbook.pages.billing import billing_section, form_targets
from meterbook.pages.csrf import check_csrf
from meterbook.pages.deps import FormFields, NavDep, see_other
from meterbook.pages.plan import plan_section
from meterbook.pages.render import Nav, render
from tenantry import invites, plans, retention, tenants
from tenantry.context import TenantContext
from tenantry.errors import NotFound, ValidationFailed
from tenantry.plans import PlanBilled, PlanChangeRefused
from tenantry.roles import Role
from tenantry.web import (
    AdminContext,
    DbSession,
    MemberContext,
    OwnerContext,
    ViewerContext,
    account_flows,
    export_download,
    get_tenancy,
)

router = APIRouter(
    dependencies=[Depends(check_csrf)], tags=["meterbook pages"], include_in_schema=False
)
ROLES = [Role.VIEWER, Role.MEMBER, Role.ADMIN, Role.OWNER]
EXPIRY_HOURS = {"1 day": 24, "7 days": 168, "30 days": 720}


def _page(
    request: Request,
    ctx: TenantContext,
    nav: Nav,
    session: DbSession,
    *,
    new_code: str | None = None,
    status: int = 200,
    error: str | None = None,
    msg: str = "",
    plan_error: PlanChangeRefused | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """The household page; ``values``: what a refused form sent, shown again in it."""
    tenant = tenants.get_tenant(session, ctx.tenant_id)
    members = tenants.members(session, ctx.tenant_id)
    invite_list = invites.list_invites(session, ctx.tenant_id) if nav.is_admin else []
    now = datetime.now(UTC)
    return render(
        request,
        "household.html",
        nav=nav,
        status=status,
        tenant=tenant,
        members=[(m, u, Role(m.role)) for m, u in members],
        sole_owner=ctx.role is Role.OWNER
        and sum(Role(m.role) is Role.OWNER for m, _u in members) == 1,
        invites=[i for i in invite_list if i.revoked_at is None and i.expires_at > now],
        roles=ROLES,
        grantable=[r for r in ROLES if r is not Role.OWNER and ctx.role.at_least(r)],
        expiry=EXPIRY_HOURS,
        new_code=new_code,
        error=error,
        values=values or {},
        notice={
            "renamed": "Renamed.",
            "saved": "Saved.",
            "revoked": "Invite revoked.",
            "plan": "Plan changed.",
            "checkout": "Thank you: the plan changes as soon as Stripe confirms the payment.",
            "billing_unavailable": "The payment provider could not be reached; nothing was "
            "changed. Please try again shortly.",
        }.get(msg),
        plan=plan_section(request, session, ctx, error=plan_error),
        billing=billing_section(request, session, ctx),
        form_targets=form_targets(request),
        active="household",
        grace_days=get_tenancy(request).config.deletion_grace.days,
    )


def _require_member(session: DbSession, ctx: TenantContext, user_id: int) -> None:
    """The same 404 for a stranger and for a member of another household, before anything else."""
    if tenants.get_membership(session, ctx.tenant_id, user_id) is None:
        raise NotFound("member not found")


@router.get("/household")
def settings(
    request: Request, ctx: ViewerContext, nav: NavDep, session: DbSession, msg: str = ""
) -> Response:
    return _page(request, ctx, nav, session, msg=msg)


@router.post("/household/rename")
def rename(
    request: Request, ctx: OwnerContext, nav: NavDep, session: DbSession, fields: FormFields
) -> Response:
    name = fields.get("name", "")
    try:
        tenants.rename_tenant(
            session, tenant_id=ctx.tenant_id, actor_id=ctx.user_id or 0, name=name
        )
    except ValidationFailed as exc:
        sent = {"name": name}
        return _page(request, ctx, nav, session, status=422, error=exc.message, values=sent)
    return see_other(f"{nav.base}/household?msg=renamed")


@router.post("/household/members/{user_id}/role")
def change_role(
    user_id: int,
    request: Request,
    ctx: AdminContext,
    nav: NavDep,
    session: DbSession,
    fields: FormFields,
) -> Response:
    _require_member(session, ctx, user_id)
    value = fields.get("role", "")
    if value not in {r.value for r in ROLES}:
        raise ValidationFailed("choose a role", details={"field": "role"})
    tenants.change_role(
        session,
        tenant_id=ctx.tenant_id,
        actor=ctx.role,
        actor_id=ctx.user_id or 0,
        user_id=user_id,
        role=Role(value),
    )
    return see_other(f"{nav.base}/household?msg=saved")


@router.post("/household/members/{user_id}/remove")
def remove_member(
    user_id: int, request: Request, ctx: AdminContext, nav: NavDep, session: DbSession
) -> Response:
    _require_member(session, ctx, user_id)
    tenants.remove_member(
        session, tenant_id=ctx.tenant_id, actor=ctx.role, actor_id=ctx.user_id or 0, user_id=user_id
    )
    return see_other(f"{nav.base}/household?msg=saved")


@router.post("/household/plan")
def change_plan(
    request: Request,
    ctx: OwnerContext,
    nav: NavDep,
    session: DbSession,
    fields: FormFields,
) -> Response:
    """The owner moves the household to another plan; a downgrade over use is refused."""
    if get_tenancy(request).billing is not None:
        raise PlanBilled()  # bought and left through Stripe: Checkout and the portal
    name = fields.get("plan", "")[:32]
    try:
        plans.change_plan(
            session,
            tenant_id=ctx.tenant_id,
            plan=name,
            actor_id=ctx.user_id,
            catalogue=get_tenancy(request).catalogue,
        )
    except PlanChangeRefused as exc:
        return _page(request, ctx, nav, session, status=409, plan_error=exc)
    return see_other(f"{nav.base}/household?msg=plan#plan")


@router.post("/household/invites")
def create_invite(
    request: Request,
    ctx: AdminContext,
    nav: NavDep,
    session: DbSession,
    fields: FormFields,
) -> Response:
    """Create an invite and show its code on this response only (only its hash is kept)."""
    sent = {k: fields.get(k, "")[:320] for k in ("role", "expires_in_hours", "max_uses", "email")}
    try:
        role = Role(fields.get("role", "member"))
        ttl = timedelta(hours=int(fields.get("expires_in_hours", "168")))
        uses = int(fields.get("max_uses", "1"))
    except (ValueError, OverflowError):
        return _page(
            request, ctx, nav, session, status=422, error="check the invite's settings", values=sent
        )
    email = fields.get("email", "").strip()[:320] or None
    try:
        _, code = account_flows.invite(
            request,
            session,
            ctx,
            role=role,
            ttl=ttl,
            max_uses=uses,
            email=email,
        )
    except ValidationFailed as exc:
        return _page(request, ctx, nav, session, status=422, error=exc.message, values=sent)
    return _page(request, ctx, nav, session, new_code=code)


@router.post("/household/invites/{invite_id}/revoke")
def revoke_invite(
    invite_id: uuid.UUID, request: Request, ctx: AdminContext, nav: NavDep, session: DbSession
) -> Response:
    invites.revoke_invite(
        session, tenant_id=ctx.tenant_id, invite_id=invite_id, actor_id=ctx.user_id or 0
    )
    return see_other(f"{nav.base}/household?msg=revoked")


@router.post("/household/leave")
def leave(request: Request, ctx: ViewerContext, session: DbSession) -> Response:
    tenants.leave(session, tenant_id=ctx.tenant_id, user_id=ctx.user_id or 0)
    return see_other("/")


@router.get("/household/export")
def export(request: Request, ctx: MemberContext, session: DbSession) -> StreamingResponse:
    """Everything the household holds, as the core's JSON export document."""
    tenant = tenants.get_tenant(session, ctx.tenant_id)
    return export_download(
        get_tenancy(request).db, ctx, prefix="meterbook", slug=tenant.slug, session=session
    )


@router.post("/household/delete")
def delete(
    request: Request, ctx: OwnerContext, nav: NavDep, session: DbSession, fields: FormFields
) -> Response:
    """Delete the household once its name is typed; an owner can restore it for a while."""
    typed = fields.get("confirm", "")[:200]
    try:
        retention.delete_tenant(
            session,
            tenant_id=ctx.tenant_id,
            actor_id=ctx.user_id,
            confirm=typed,
            grace=get_tenancy(request).config.deletion_grace,
        )
    except ValidationFailed:
        return _page(
            request,
            ctx,
            nav,
            session,
            status=422,
            error="To delete the household, type its name exactly as shown.",
        )
    return see_other("/account?msg=deleted")
