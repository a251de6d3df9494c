"""The current tenant, the caller's tenants, and member management."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from tenantry import accounts, audit, retention, tenants
from tenantry.errors import ValidationFailed
from tenantry.web.deps import (
    AdminContext,
    CurrentClaims,
    DbSession,
    OwnerContext,
    ViewerContext,
    get_tenancy,
)
from tenantry.web.schemas import (
    AuditOut,
    IsoDateTime,
    MemberOut,
    RenameIn,
    RoleIn,
    TenantIn,
    TenantOut,
    TokenPair,
    TransferIn,
)

router = APIRouter(prefix="/api", tags=["tenants"])


@router.get("/tenants")
def my_tenants(session: DbSession, claims: CurrentClaims) -> list[TenantOut]:
    return [TenantOut.of(t, m.role) for m, t in tenants.memberships_of(session, claims.user_id)]


@router.post("/tenants", status_code=201)
def create_tenant(
    body: TenantIn, request: Request, session: DbSession, claims: CurrentClaims
) -> TokenPair:
    """Create a tenant owned by the caller, and return tokens for it."""
    tenancy = get_tenancy(request)
    tenant = tenants.create_tenant(
        session,
        owner_id=claims.user_id,
        name=body.name,
        kind=body.kind,
        owned_limit=tenancy.config.max_owned_tenants,
    )
    return tenancy.issue_tokens(session, claims.user_id, tenant.id)


@router.get("/tenant")
def current_tenant(ctx: ViewerContext, session: DbSession) -> TenantOut:
    return TenantOut.of(tenants.get_tenant(session, ctx.tenant_id), ctx.role)


@router.patch("/tenant")
def rename_tenant(body: RenameIn, ctx: OwnerContext, session: DbSession) -> TenantOut:
    tenant = tenants.rename_tenant(
        session, tenant_id=ctx.tenant_id, actor_id=ctx.user_id or 0, name=body.name
    )
    return TenantOut.of(tenant, ctx.role)


@router.delete("/tenant", status_code=204)
def delete_tenant(
    ctx: OwnerContext,
    request: Request,
    session: DbSession,
    confirm: str = Query(default="", max_length=200),
) -> Response:
    """Delete the tenant (restorable by an owner for the grace period); ``confirm`` repeats
    its slug or name."""
    retention.delete_tenant(
        session,
        tenant_id=ctx.tenant_id,
        actor_id=ctx.user_id,
        confirm=confirm,
        grace=get_tenancy(request).config.deletion_grace,
    )
    get_tenancy(request).cache.clear_tenant(ctx.tenant_id)
    return Response(status_code=204)


@router.get("/tenant/members")
def list_members(ctx: ViewerContext, session: DbSession) -> list[MemberOut]:
    return [MemberOut.of(m, u) for m, u in tenants.members(session, ctx.tenant_id)]


@router.patch("/tenant/members/{user_id}")
def change_role(user_id: int, body: RoleIn, ctx: AdminContext, session: DbSession) -> MemberOut:
    membership = tenants.change_role(
        session,
        tenant_id=ctx.tenant_id,
        actor=ctx.role,
        actor_id=ctx.user_id or 0,
        user_id=user_id,
        role=body.role,
    )
    return MemberOut.of(membership, accounts.get_user(session, user_id))


@router.delete("/tenant/members/{user_id}", status_code=204)
def remove_member(user_id: int, ctx: AdminContext, session: DbSession) -> Response:
    tenants.remove_member(
        session,
        tenant_id=ctx.tenant_id,
        actor=ctx.role,
        actor_id=ctx.user_id or 0,
        user_id=user_id,
    )
    return Response(status_code=204)


@router.post("/tenant/leave", status_code=204)
def leave(ctx: ViewerContext, session: DbSession) -> Response:
    tenants.leave(session, tenant_id=ctx.tenant_id, user_id=ctx.user_id or 0)
    return Response(status_code=204)


@router.post("/tenant/transfer", status_code=204)
def transfer(body: TransferIn, ctx: OwnerContext, session: DbSession) -> Response:
    tenants.transfer_ownership(
        session, tenant_id=ctx.tenant_id, owner_id=ctx.user_id or 0, new_owner_id=body.user_id
    )
    return Response(status_code=204)


@router.get("/tenant/audit")
def audit_log(
    ctx: AdminContext,
    session: DbSession,
    action: str | None = Query(
        default=None, max_length=64, description='an action or its kind ("member": all member.*)'
    ),
    actor_id: int | None = Query(default=None, ge=1, description="events of this member"),
    since: IsoDateTime | None = Query(default=None, description="events at or after"),
    until: IsoDateTime | None = Query(default=None, description="events before"),
    before: int | None = Query(default=None, ge=1, description="the next page: the last id seen"),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[AuditOut]:
    """The tenant's audit trail, newest first, by action, member and time; next page: ``before``.

    ``before`` is the ``id`` of the previous page's last event (admins)."""
    if since is not None and until is not None and since >= until:
        raise ValidationFailed("since must be before until", details={"field": "since"})
    where = audit.AuditFilter(action=action, actor_id=actor_id, since=since, until=until)
    return [
        AuditOut(
            id=e.id,
            action=e.action,
            actor_id=e.actor_id,
            actor_pseudonym=e.actor_pseudonym,
            target=e.target,
            details=e.details,
            created_at=e.created_at,
        )
        for e in audit.events(session, ctx.tenant_id, where, before_id=before, limit=limit)
    ]
