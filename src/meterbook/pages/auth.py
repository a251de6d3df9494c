"""Pages without a household: sign up (with an optional invite), sign in and out, join, new."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from meterbook.pages.cookies import REFRESH, SID
from meterbook.pages.csrf import check_csrf, new_sid
from meterbook.pages.deps import FormFields, safe_next, see_other
from meterbook.pages.render import render
from meterbook.pages.session_policy import policy_of
from meterbook.pages.wording import household_words
from tenantry import accounts, invites, tenants
from tenantry.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInvite,
    RateLimited,
    TenantryError,
    TooManyTenants,
    ValidationFailed,
)
from tenantry.models import TenantKind
from tenantry.plans.errors import QuotaExceeded
from tenantry.security.refresh import revoke_token
from tenantry.web import (
    CurrentClaims,
    DbSession,
    TenantClaim,
    TokenPair,
    account_flows,
    get_tenancy,
    problem_of,
    resolve_membership,
)

router = APIRouter(
    dependencies=[Depends(check_csrf)], tags=["meterbook pages"], include_in_schema=False
)
NO_HOUSEHOLD = "/households/new"  # "create or join a household"


def signed_in(
    request: Request, pair: TokenPair, slug: str | None, target: str | None = None
) -> Response:
    """Set the session cookies, with a fresh session id (and so a fresh CSRF token).

    Without a household (``slug=None``) the person lands on "create or join a household".
    """
    policy = policy_of(request)
    cookies = policy.session(pair.access_token, pair.refresh_token)
    cookies.append(policy.header(SID, new_sid(), 400 * 86_400))
    landing = f"/t/{slug}/dashboard" if slug else NO_HOUSEHOLD
    return see_other(safe_next(target, landing) if slug else landing, cookies)


def _slug(session: DbSession, tenant_id: uuid.UUID) -> str:
    return tenants.get_tenant(session, tenant_id).slug


@router.get("/")
def home(request: Request, session: DbSession) -> Response:
    """The household of the session, or the sign-in page."""
    tenancy = get_tenancy(request)
    token = request.cookies.get(policy_of(request).access)
    if not token:
        return see_other("/signin")
    tenant_id: uuid.UUID
    try:
        claims = tenancy.tokens.verify(token)
        accounts.check_session(session, claims.user_id, claims.session_version)
        tenant_id = resolve_membership(
            session, TenantClaim("token", tenant_id=claims.tenant_id), claims.user_id
        ).tenant_id
    except AuthenticationFailed:
        return see_other("/signin")
    except TenantryError:  # no household, or left or removed since: go to another one
        fallback = accounts.default_tenant(session, claims.user_id)
        if fallback is None:
            return see_other(NO_HOUSEHOLD)
        tenant_id = fallback
    return see_other(f"/t/{_slug(session, tenant_id)}/dashboard")


SIGNIN_NOTICES = {
    "reset": "Your password was changed and every session signed out. Sign in again.",
    "everywhere": "You are signed out on every device, this one included.",
    "unsent": "You were signed out, so what you sent was not saved: sign in and send it again.",
}


@router.get("/signin")
def signin_form(request: Request, next: str = "", msg: str = "") -> Response:
    notice = SIGNIN_NOTICES.get(msg)
    return render(request, "signin.html", next=next, values={}, error=None, notice=notice)


@router.post("/signin")
def signin(request: Request, session: DbSession, fields: FormFields) -> Response:
    tenancy = get_tenancy(request)
    try:
        user = account_flows.sign_in(
            request,
            session,
            email=fields.get("email", ""),
            password=fields.get("password", ""),
        )
    except (AuthenticationFailed, RateLimited) as exc:
        # The form again, with what was typed: a back-off too (its Retry-After as the API's).
        page = render(
            request,
            "signin.html",
            status=exc.status,
            next=fields.get("next", ""),
            values={"email": fields.get("email", "")},
            error=exc.message,
        )
        page.headers.update(getattr(exc, "headers", None) or {})
        return page
    tenant_id = accounts.default_tenant(session, user.id)
    pair = tenancy.issue_tokens(session, user.id, tenant_id)
    slug = _slug(session, tenant_id) if tenant_id else None
    return signed_in(request, pair, slug, fields.get("next"))


# Said to the person invited, who has no plan to change: whoever invited them can make room.
FULL_HOUSEHOLD = "This household is full: ask whoever invited you to make room, then try again."


@router.get("/signup")
def signup_form(request: Request, code: str = "") -> Response:
    return render(request, "signup.html", values={"invite_code": code[:100]}, error=None)


@router.post("/signup")
def signup(request: Request, session: DbSession, fields: FormFields) -> Response:
    """The same "check your inbox" page whether or not the email has an account."""
    # What was typed goes to the core whole (it refuses what is too long, as the API does);
    # only the form shown again is bounded.
    sent = {k: fields.get(k, "") for k in ("email", "display_name", "tenant_name", "invite_code")}
    values = {k: v[:400] for k, v in sent.items()}
    try:
        account_flows.sign_up(
            request,
            session,
            email=sent["email"],
            password=fields.get("password", ""),
            display_name=sent["display_name"],
            invite_code=sent["invite_code"].strip() or None,
            tenant_name=sent["tenant_name"] or None,
        )
    except (ValidationFailed, InvalidInvite) as exc:
        session.rollback()
        return render(request, "signup.html", status=exc.status, values=values, error=exc.message)
    except QuotaExceeded as exc:  # the form again, with what was typed (a 402 page lost it)
        session.rollback()
        error = f"{FULL_HOUSEHOLD} Or leave the invite code empty to start a household of your own."
        return render(request, "signup.html", status=exc.status, values=values, error=error)
    return render(request, "sent.html", title="Check your inbox", message=account_flows.SIGNUP_SENT)


@router.post("/signout")
def signout(request: Request, session: DbSession) -> Response:
    refresh = request.cookies.get(REFRESH)
    if refresh:
        revoke_token(session, refresh)
    return see_other("/signin", policy_of(request).cleared())


@router.get("/join")
def join_form(request: Request, claims: CurrentClaims, code: str = "") -> Response:
    return render(request, "join.html", values={"code": code[:100]}, error=None)


@router.post("/join")
def join(
    request: Request, session: DbSession, claims: CurrentClaims, fields: FormFields
) -> Response:
    """A signed-in person joins another household with a code."""
    tenancy = get_tenancy(request)
    tenancy.limits.hit(tenancy.config.join_rate, "join", request)
    code = fields.get("code", "")[:100]
    try:
        user = accounts.get_user(session, claims.user_id)
        membership = invites.join(session, code=code, user=user)
    except (InvalidInvite, Conflict, QuotaExceeded) as exc:
        session.rollback()
        error = FULL_HOUSEHOLD if isinstance(exc, QuotaExceeded) else exc.message
        return render(request, "join.html", status=exc.status, values={"code": code}, error=error)
    pair = tenancy.issue_tokens(session, claims.user_id, membership.tenant_id)
    return signed_in(request, pair, _slug(session, membership.tenant_id))


def _alone(session: DbSession, user_id: int) -> bool:
    return accounts.default_tenant(session, user_id) is None


@router.get("/households/new")
def new_household_form(request: Request, session: DbSession, claims: CurrentClaims) -> Response:
    """Another household; for a person in none, "create or join a household"."""
    alone = _alone(session, claims.user_id)
    return render(request, "household_new.html", values={}, error=None, alone=alone)


@router.post("/households/new")
def new_household(
    request: Request, session: DbSession, claims: CurrentClaims, fields: FormFields
) -> Response:
    """Create another household owned by the signed-in person and open it."""
    name = fields.get("name", "")
    try:
        tenant = tenants.create_tenant(
            session,
            owner_id=claims.user_id,
            name=name,
            kind=TenantKind.FAMILY,
            owned_limit=get_tenancy(request).config.max_owned_tenants,
        )
    except (ValidationFailed, TooManyTenants) as exc:
        session.rollback()
        return render(
            request,
            "household_new.html",
            status=exc.status,
            values={"name": name[:400]},
            error=household_words(problem_of(request, exc)),
            alone=_alone(session, claims.user_id),
        )
    pair = get_tenancy(request).issue_tokens(session, claims.user_id, tenant.id)
    return signed_in(request, pair, tenant.slug)
