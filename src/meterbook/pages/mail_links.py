"""Pages reached from mails: confirm the address, forgot or reset the password, join."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from meterbook.pages.auth import signed_in
from meterbook.pages.csrf import check_csrf
from meterbook.pages.deps import FormFields, see_other
from meterbook.pages.render import render
from meterbook.pages.session_policy import policy_of
from tenantry import accounts, invites, tenants
from tenantry.errors import AuthenticationFailed, InvalidInvite, ValidationFailed
from tenantry.web import DbSession, account_flows, get_tenancy

router = APIRouter(
    dependencies=[Depends(check_csrf)], tags=["meterbook pages"], include_in_schema=False
)


@router.get("/verify-email")
def verify_form(request: Request, token: str = "") -> Response:
    """A button, not a GET that acts: mail scanners open links, people press buttons."""
    return render(request, "verify_email.html", token=token[:2000], error=None)


@router.post("/verify-email")
def verify(request: Request, session: DbSession, fields: FormFields) -> Response:
    token = fields.get("token", "")[:2000]
    try:
        user = account_flows.verify(request, session, token)
    except ValidationFailed as exc:
        return render(request, "verify_email.html", status=400, token="", error=exc.message)
    tenant_id = accounts.default_tenant(session, user.id)
    pair = get_tenancy(request).issue_tokens(session, user.id, tenant_id)
    slug = tenants.get_tenant(session, tenant_id).slug if tenant_id else None
    return signed_in(request, pair, slug)


@router.get("/forgot-password")
def forgot_form(request: Request) -> Response:
    return render(request, "forgot_password.html")


@router.post("/forgot-password")
def forgot(request: Request, session: DbSession, fields: FormFields) -> Response:
    email = fields.get("email", "")[:320]
    account_flows.forgot_password(request, session, email=email)
    return render(request, "sent.html", title="Check your inbox", message=account_flows.RESET_SENT)


@router.get("/reset-password")
def reset_form(request: Request, token: str = "") -> Response:
    return render(request, "reset_password.html", token=token[:200], error=None)


@router.post("/reset-password")
def reset(request: Request, session: DbSession, fields: FormFields) -> Response:
    token = fields.get("token", "")[:200]
    try:
        account_flows.reset_password(
            request, session, token=token, password=fields.get("password", "")
        )
    except ValidationFailed as exc:
        session.rollback()
        return render(request, "reset_password.html", status=422, token=token, error=exc.message)
    # This browser's own session ended with every other one.
    return see_other("/signin?msg=reset", policy_of(request).cleared())


@router.get("/invite")
def accept_invite(request: Request, session: DbSession, code: str = "") -> Response:
    """What the invitation mail links to: who invites to what, then join, sign in or sign up."""
    tenancy = get_tenancy(request)
    tenancy.limits.hit(tenancy.config.join_rate, "join", request)
    code = code[:100]
    try:
        preview = invites.preview(session, code)
    except InvalidInvite as exc:
        return render(request, "invite.html", status=400, error=exc.message)
    signed = False
    token = request.cookies.get(policy_of(request).access)
    if token:
        try:
            claims = tenancy.tokens.verify(token)
            accounts.check_session(session, claims.user_id, claims.session_version)
            signed = True
        except AuthenticationFailed:
            signed = False
    return render(
        request,
        "invite.html",
        preview=preview,
        code=code,
        signed_in=signed,
        next=f"/invite?code={code}",
        error=None,
    )
