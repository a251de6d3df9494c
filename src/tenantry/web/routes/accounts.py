"""Register, log in, refresh, log out, switch tenant, and ``GET /api/me``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tenantry import accounts, tenants
from tenantry.security.refresh import revoke_token, rotate_refresh
from tenantry.web.deps import CurrentClaims, DbSession, get_tenancy
from tenantry.web.resolution import TenantClaim, claim_from_request, resolve_membership
from tenantry.web.schemas import (
    LoginIn,
    MeOut,
    RefreshIn,
    RegisterIn,
    SwitchIn,
    TenantOut,
    TokenPair,
)

router = APIRouter(prefix="/api", tags=["accounts"])


@router.post("/auth/register", status_code=201)
def register(body: RegisterIn, request: Request, session: DbSession) -> TokenPair:
    tenancy = get_tenancy(request)
    tenancy.limits.hit(tenancy.config.register_rate, "register", request)
    user, membership = accounts.register(
        session,
        tenancy.passwords,
        email=body.email,
        password=body.password,
        display_name=body.display_name,
        invite_code=body.invite_code,
        tenant_name=body.tenant_name,
        default_tenant_name=tenancy.config.default_tenant_name,
        tenant_kind=tenancy.config.default_tenant_kind,
    )
    return tenancy.issue_tokens(session, user.id, membership.tenant_id)


@router.post("/auth/login")
def login(body: LoginIn, request: Request, session: DbSession) -> TokenPair:
    tenancy = get_tenancy(request)
    tenancy.limits.hit(tenancy.config.login_rate, "login", request)
    user = accounts.authenticate(
        session, tenancy.passwords, email=body.email, password=body.password
    )
    # No tenant (left or removed from the last one): tokens without one, to create or join.
    return tenancy.issue_tokens(session, user.id, accounts.default_tenant(session, user.id))


@router.post("/auth/refresh")
def refresh(body: RefreshIn, request: Request, session: DbSession) -> TokenPair:
    tenancy = get_tenancy(request)
    record = rotate_refresh(session, body.refresh_token)
    # issue_tokens checks the membership again: it may have changed since the last token.
    return tenancy.issue_tokens(
        session, record.user_id, record.tenant_id, family_id=record.family_id
    )


@router.post("/auth/logout", status_code=204)
def logout(body: RefreshIn, session: DbSession) -> Response:
    revoke_token(session, body.refresh_token)
    return Response(status_code=204)


@router.post("/auth/switch")
def switch(
    body: SwitchIn, request: Request, session: DbSession, claims: CurrentClaims
) -> TokenPair:
    """A new token pair for another tenant the caller belongs to."""
    ctx = resolve_membership(
        session, TenantClaim("switch", tenant_id=body.tenant_id), claims.user_id
    )
    return get_tenancy(request).issue_tokens(session, claims.user_id, ctx.tenant_id)


@router.get("/me")
def me(request: Request, session: DbSession, claims: CurrentClaims) -> MeOut:
    """Who is signed in, their tenants, and the tenant this request is in (if any)."""
    user = accounts.get_user(session, claims.user_id)
    config = get_tenancy(request).config
    claim = claim_from_request(request, claims.tenant_id, config.base_domain, config.tenant_header)
    current = resolve_membership(session, claim, user.id).tenant_id if claim else None
    return MeOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        is_platform_admin=user.is_platform_admin,
        current_tenant_id=current,
        memberships=[TenantOut.of(t, m.role) for m, t in tenants.memberships_of(session, user.id)],
    )
