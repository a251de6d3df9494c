"""Register, log in, refresh, log out, switch tenant, and ``GET /api/me``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tenantry import accounts, tenants
from tenantry.errors import TenantNotFound, TenantSuspended
from tenantry.security.refresh import revoke_token, rotate_refresh
from tenantry.web import account_flows
from tenantry.web.deps import CurrentClaims, DbSession, get_tenancy
from tenantry.web.resolution import TenantClaim, claim_from_request, resolve_membership
from tenantry.web.schemas import (
    Accepted,
    ForgotIn,
    LoginIn,
    MeOut,
    PasswordChangeIn,
    RefreshIn,
    RegisterIn,
    ResetIn,
    SwitchIn,
    TenantOut,
    TokenIn,
    TokenPair,
)

router = APIRouter(prefix="/api", tags=["accounts"])


@router.post("/auth/register", status_code=202)
def register(body: RegisterIn, request: Request, session: DbSession) -> Accepted:
    """Sign up. The same answer whether or not the email has an account: see the mail.

    A new account must confirm its address (``POST /api/auth/verify``) before signing in.
    """
    account_flows.sign_up(
        request,
        session,
        email=body.email,
        password=body.password,
        display_name=body.display_name,
        invite_code=body.invite_code,
        tenant_name=body.tenant_name,
        tenant_kind=body.tenant_kind,
    )
    return Accepted(message=account_flows.SIGNUP_SENT)


@router.post("/auth/verify")
def verify(body: TokenIn, request: Request, session: DbSession) -> TokenPair:
    """Confirm the address with the token of the mailed link, and sign in."""
    user = account_flows.verify(request, session, body.token)
    return get_tenancy(request).issue_tokens(
        session, user.id, accounts.default_tenant(session, user.id)
    )


@router.post("/auth/password/forgot", status_code=202)
def forgot_password(body: ForgotIn, request: Request, session: DbSession) -> Accepted:
    """Mail a reset link if the address has an account; the same answer either way."""
    account_flows.forgot_password(request, session, email=body.email)
    return Accepted(message=account_flows.RESET_SENT)


@router.post("/auth/password/reset", status_code=204)
def reset_password(body: ResetIn, request: Request, session: DbSession) -> Response:
    """Choose a new password with the mailed token; every session of the account ends."""
    account_flows.reset_password(request, session, token=body.token, password=body.password)
    return Response(status_code=204)


@router.post("/me/password")
def change_password(
    body: PasswordChangeIn, request: Request, session: DbSession, claims: CurrentClaims
) -> TokenPair:
    """Choose a new password, giving the current one (403 when wrong). Every session of
    the account ends; this one goes on with the token pair answered."""
    return account_flows.change_password(
        request, session, claims, current=body.current_password, new=body.new_password
    )


@router.post("/auth/login")
def login(body: LoginIn, request: Request, session: DbSession) -> TokenPair:
    tenancy = get_tenancy(request)
    user = account_flows.sign_in(request, session, email=body.email, password=body.password)
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
    """End the session of this refresh token. Its access token lives until it expires
    (``access_ttl``): to end it now, sign out everywhere."""
    revoke_token(session, body.refresh_token)
    return Response(status_code=204)


@router.post("/auth/logout/everywhere", status_code=204)
def logout_everywhere(session: DbSession, claims: CurrentClaims) -> Response:
    """End every session of the account, this one included: each refresh token is revoked
    and each access token refused from its next request."""
    accounts.sign_out_everywhere(session, claims.user_id, claims.session_version)
    return Response(status_code=204)


@router.post("/auth/switch")
def switch(
    body: SwitchIn, request: Request, session: DbSession, claims: CurrentClaims
) -> TokenPair:
    """A new token pair for another tenant the caller belongs to (a suspended one too).

    A suspended tenant's token reaches only the billing portal: its owner pays there."""
    ctx = resolve_membership(
        session,
        TenantClaim("switch", tenant_id=body.tenant_id),
        claims.user_id,
        allow_suspended=True,
    )
    return get_tenancy(request).issue_tokens(session, claims.user_id, ctx.tenant_id)


@router.get("/me")
def me(request: Request, session: DbSession, claims: CurrentClaims) -> MeOut:
    """Who is signed in, their tenants, and the tenant this request is in (if any)."""
    user = accounts.get_user(session, claims.user_id)
    config = get_tenancy(request).config
    claim = claim_from_request(request, claims.tenant_id, config.base_domain, config.tenant_header)
    current = None
    try:
        current = resolve_membership(session, claim, user.id).tenant_id if claim else None
    except (TenantNotFound, TenantSuspended):
        if claim is None or claim.source != "token":
            raise  # a tenant the request itself names: the same answer as any route
        # The token's tenant is no longer one the person may be in (removed, deleted,
        # suspended): they are still signed in, in no tenant, with the tenants they have.
    return MeOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        is_platform_admin=user.is_platform_admin,
        current_tenant_id=current,
        memberships=[TenantOut.of(t, m.role) for m, t in tenants.memberships_of(session, user.id)],
    )
