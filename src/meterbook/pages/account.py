"""The signed-in person's own page: their data, erasure, and deleted households to restore."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from meterbook.pages.auth import signed_in
from meterbook.pages.csrf import check_csrf
from meterbook.pages.deps import FormFields, see_other
from meterbook.pages.render import render
from meterbook.pages.session_policy import policy_of
from meterbook.pages.wording import household_words
from tenantry import accounts, privacy, retention
from tenantry.errors import Conflict, PermissionDenied, TooManyTenants, ValidationFailed
from tenantry.web import (
    CurrentClaims,
    DbSession,
    account_flows,
    get_tenancy,
    problem_of,
    user_export_response,
)

router = APIRouter(
    dependencies=[Depends(check_csrf)], tags=["meterbook pages"], include_in_schema=False
)
NOTICES = {
    "deleted": "The household was deleted. You can restore it below until the date shown.",
    "password": "Your password was changed; you are signed out everywhere else.",
}


def _page(
    request: Request,
    session: DbSession,
    user_id: int,
    *,
    status: int = 200,
    error: str | None = None,
    msg: str = "",
    values: dict[str, str] | None = None,
) -> Response:
    """The account page; ``values``: what a refused form sent (never a password)."""
    user = accounts.get_user(session, user_id)
    return render(
        request,
        "account.html",
        status=status,
        user=user,
        restorable=retention.restorable(session, user_id),
        error=error,
        notice=NOTICES.get(msg),
        values=values or {},
    )


@router.get("/account")
def account(request: Request, session: DbSession, claims: CurrentClaims, msg: str = "") -> Response:
    return _page(request, session, claims.user_id, msg=msg)


@router.get("/account/export")
def export(session: DbSession, claims: CurrentClaims) -> Response:
    """Everything the instance holds about the signed-in person, as a JSON download."""
    return user_export_response(session, claims.user_id)


@router.post("/account/households/{tenant_id}/restore")
def restore(
    tenant_id: uuid.UUID, request: Request, session: DbSession, claims: CurrentClaims
) -> Response:
    tenancy = get_tenancy(request)
    try:
        tenant = retention.restore_tenant(
            session,
            tenant_id=tenant_id,
            user_id=claims.user_id,
            owned_limit=tenancy.config.max_owned_tenants,
        )
    except TooManyTenants as exc:
        session.rollback()
        words = household_words(problem_of(request, exc))
        return _page(request, session, claims.user_id, status=exc.status, error=words)
    pair = tenancy.issue_tokens(session, claims.user_id, tenant.id)
    return signed_in(request, pair, tenant.slug)


@router.post("/account/password")
def change_password(
    request: Request, session: DbSession, claims: CurrentClaims, fields: FormFields
) -> Response:
    """A new password, given the current one: other sessions end, this one is renewed."""
    try:
        pair = account_flows.change_password(
            request,
            session,
            claims,
            current=fields.get("current_password", ""),
            new=fields.get("new_password", ""),
        )
    except (PermissionDenied, ValidationFailed) as exc:
        session.rollback()
        return _page(request, session, claims.user_id, status=exc.status, error=exc.message)
    response = signed_in(request, pair, None)
    response.headers["location"] = "/account?msg=password"
    return response


@router.post("/account/signout-everywhere")
def sign_out_everywhere(request: Request, session: DbSession, claims: CurrentClaims) -> Response:
    """Every session of the account ends: another device's on its next page, this one now."""
    accounts.sign_out_everywhere(session, claims.user_id, claims.session_version)
    return see_other("/signin?msg=everywhere", policy_of(request).cleared())


@router.post("/account/erase")
def erase(
    request: Request, session: DbSession, claims: CurrentClaims, fields: FormFields
) -> Response:
    """Erase the account: the password, and the email typed again, are required."""
    user = accounts.get_user(session, claims.user_id)
    sent = {"confirm": fields.get("confirm", "")[:320]}
    if sent["confirm"].strip().casefold() != user.email:
        return _page(
            request,
            session,
            user.id,
            status=422,
            error="Type your email address to confirm.",
            values=sent,
        )
    tenancy = get_tenancy(request)
    tenancy.limits.hit(tenancy.config.login_rate, "login", request)
    try:
        privacy.erase_user(
            session,
            tenancy.passwords,
            user_id=user.id,
            password=fields.get("password", ""),
            grace=tenancy.config.deletion_grace,
        )
    except (PermissionDenied, Conflict) as exc:
        session.rollback()
        return _page(
            request, session, claims.user_id, status=exc.status, error=exc.message, values=sent
        )
    return see_other("/signin", policy_of(request).cleared())
