"""The account flows the API and the host's pages share: sign-up, sign-in, verify, reset, invite.

Each one applies the rate limits, calls the core, and queues its mails on the
session (they leave after commit), so a page and an API route cannot differ.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session
from starlette.requests import Request

from tenantry import accounts, invites, recovery, tenants
from tenantry.context import TenantContext
from tenantry.errors import (
    AuthenticationFailed,
    PermissionDenied,
    TenantNotFound,
    TenantSuspended,
)
from tenantry.models import Invite, Tenant, TenantKind, User, normalize_email
from tenantry.roles import Role
from tenantry.security.links import sign_link
from tenantry.security.tokens import AccessClaims
from tenantry.web.deps import get_tenancy
from tenantry.web.schemas import TokenPair

if TYPE_CHECKING:
    from tenantry.web.tenancy import Tenancy

SIGNUP_SENT = (
    "Check your inbox: we sent a mail to this address with what to do next. "
    "New accounts must confirm their address before signing in."
)
RESET_SENT = "If an account uses this address, we sent it a link to choose a new password."


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _verification(request: Request, user: User) -> tuple[str, timedelta]:
    config = get_tenancy(request).config
    token = sign_link(
        config.secret_key,
        purpose=accounts.VERIFY_PURPOSE,
        user_id=user.id,
        email=user.email,
        ttl=config.verify_ttl,
    )
    return token, config.verify_ttl


def sign_up(
    request: Request,
    session: Session,
    *,
    email: str,
    password: str,
    display_name: str = "",
    invite_code: str | None = None,
    tenant_name: str | None = None,
    tenant_kind: TenantKind | None = None,
) -> None:
    """Register; answers nothing either way: the address gets a welcome or an "already" mail.

    Raises:
        ValidationFailed, InvalidInvite: bad input (the same for known and unknown emails).
    """
    tenancy = get_tenancy(request)
    tenancy.limits.hit(tenancy.config.register_rate, "register", request)
    done = accounts.register(
        session,
        tenancy.passwords,
        email=email,
        password=password,
        display_name=display_name,
        invite_code=invite_code,
        tenant_name=tenant_name,
        default_tenant_name=tenancy.config.default_tenant_name,
        tenant_kind=tenant_kind or tenancy.config.default_tenant_kind,
    )
    if done.user is not None:
        token, ttl = _verification(request, done.user)
        joining = done.membership if invite_code else None
        tenancy.mail.welcome(session, done.user, token, ttl, joining)
    elif _may_mail(tenancy, done.email):
        tenant = session.get(Tenant, done.invited_to) if done.invited_to else None
        invited = (tenant.name, invite_code) if tenant is not None and invite_code else None
        tenancy.mail.already_registered(session, done.email, invited)


def sign_in(request: Request, session: Session, *, email: str, password: str) -> User:
    """Check the credentials behind the per-IP limit and the per-account throttle.

    An unverified account with the right password gets the same 401 as a wrong
    one, and a fresh verification link by mail (sent at once: nothing to commit).

    Raises:
        RateLimited: the IP or the account is throttled.
        AuthenticationFailed: wrong credentials, or not verified yet.
    """
    tenancy = get_tenancy(request)
    tenancy.limits.hit(tenancy.config.login_rate, "login", request)
    ip = client_ip(request)
    tenancy.login_throttle.check(email, ip)
    try:
        user = accounts.authenticate(session, tenancy.passwords, email=email, password=password)
    except accounts.UnverifiedAccount as exc:
        token, ttl = _verification(request, exc.user)
        tenancy.postman.submit([tenancy.mail.verify_email_message(exc.user, token, ttl)])
        raise
    except AuthenticationFailed:
        tenancy.login_throttle.failed(email, ip)
        raise
    tenancy.login_throttle.succeeded(email, ip)
    return user


def verify(request: Request, session: Session, token: str) -> User:
    """Confirm the address of the link's account (each link works once)."""
    return accounts.verify_email(session, get_tenancy(request).config.secret_key, token)


def _may_mail(tenancy: Tenancy, address: str) -> bool:
    """Whether another mail a stranger can ask for may go to ``address`` (its rate, from
    every client together); the caller answers the same either way."""
    return tenancy.limits.allows(tenancy.config.mail_to_address_rate, "mail-to", address)


def forgot_password(request: Request, session: Session, *, email: str) -> None:
    """Mail a reset link if the address has an account; the answer is the same either way."""
    tenancy = get_tenancy(request)
    tenancy.limits.hit(tenancy.config.register_rate, "forgot", request)
    if not _may_mail(tenancy, normalize_email(email)):
        return
    found = recovery.request_reset(session, email=email, ttl=tenancy.config.reset_ttl)
    if found is not None:
        user, token = found
        tenancy.mail.password_reset(session, user, token, tenancy.config.reset_ttl)


def reset_password(request: Request, session: Session, *, token: str, password: str) -> User:
    """Set a new password; every session of the account ends; this address counts as known."""
    tenancy = get_tenancy(request)
    tenancy.limits.hit(tenancy.config.join_rate, "reset", request)
    user = recovery.reset_password(session, tenancy.passwords, token=token, password=password)
    tenancy.mail.password_changed(session, user)
    tenancy.login_throttle.succeeded(user.email, client_ip(request))
    return user


def change_password(
    request: Request,
    session: Session,
    claims: AccessClaims,
    *,
    current: str,
    new: str,
) -> TokenPair:
    """Replace the password (the current one is required, throttled like a sign-in); every
    session of the account ends, the address is told, and this session goes on with the
    token pair answered (for the claim's tenant while a member of it, else the default)."""
    tenancy = get_tenancy(request)
    tenancy.limits.hit(tenancy.config.login_rate, "login", request)
    email = accounts.get_user(session, claims.user_id).email
    ip = client_ip(request)
    tenancy.login_throttle.check(email, ip)
    try:
        user = recovery.change_password(
            session, tenancy.passwords, user_id=claims.user_id, current=current, new=new
        )
    except PermissionDenied:
        tenancy.login_throttle.failed(email, ip)
        raise
    tenancy.mail.password_changed(session, user)
    tenancy.login_throttle.succeeded(email, ip)
    tenant = claims.tenant_id
    if tenant is None or tenants.get_membership(session, tenant, user.id) is None:
        tenant = accounts.default_tenant(session, user.id)
    try:
        return tenancy.issue_tokens(session, user.id, tenant)
    except (TenantNotFound, TenantSuspended):  # signed in still, in no tenant
        return tenancy.issue_tokens(session, user.id, None)


def invite(
    request: Request,
    session: Session,
    ctx: TenantContext,
    *,
    role: Role,
    ttl: timedelta,
    max_uses: int = 1,
    email: str | None = None,
) -> tuple[Invite, str]:
    """Create an invite; one bound to an address is mailed there with its link and code."""
    tenancy = get_tenancy(request)
    created, code = invites.create_invite(
        session,
        tenant_id=ctx.tenant_id,
        actor=ctx.role,
        actor_id=ctx.user_id or 0,
        role=role,
        ttl=ttl,
        max_uses=max_uses,
        email=email,
    )
    if created.email:
        inviter = accounts.get_user(session, ctx.user_id)
        tenancy.mail.invitation(
            session,
            email=created.email,
            code=code,
            tenant_name=tenants.get_tenant(session, ctx.tenant_id).name,
            inviter=inviter.display_name or inviter.email,
            role=role,
            expires_at=created.expires_at,
        )
    return created, code
