"""Rendering pages: the Jinja2 templates, the navigation, and formatting filters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy.orm import Session

from meterbook.domain import minor_to_money, wh_to_kwh
from meterbook.pages.cookies import TZ
from meterbook.pages.csrf import FIELD, request_token
from tenantry import tenants
from tenantry.context import TenantContext
from tenantry.models import User
from tenantry.plans import load_entitlements
from tenantry.roles import Role

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")


@dataclass(frozen=True, slots=True)
class Household:
    slug: str
    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class Nav:
    """Who is signed in, in which household, with which role, and their other households."""

    user_id: int
    user_name: str
    email: str
    current: Household
    households: list[Household] = field(default_factory=list)
    plan: str = ""
    features: frozenset[str] = frozenset()

    @property
    def base(self) -> str:
        """The URL prefix naming the household, so a form always posts to the one it shows."""
        return f"/t/{self.current.slug}"

    @property
    def role(self) -> Role:
        return self.current.role

    @property
    def can_edit(self) -> bool:
        return self.role.at_least(Role.MEMBER)

    @property
    def is_admin(self) -> bool:
        return self.role.at_least(Role.ADMIN)

    @property
    def is_owner(self) -> bool:
        return self.role is Role.OWNER

    def has(self, feature: str) -> bool:
        """Whether the household's plan includes ``feature`` (pages hide what it lacks)."""
        return feature in self.features


def load_nav(session: Session, ctx: TenantContext) -> Nav:
    """Four indexed queries: the user, their memberships, the plan and its overrides."""
    user = session.get(User, ctx.user_id)
    rows = tenants.memberships_of(session, ctx.user_id or 0)
    households = [Household(t.slug, t.name, Role(m.role)) for m, t in rows]
    current = next(
        (Household(t.slug, t.name, ctx.role) for m, t in rows if t.id == ctx.tenant_id), None
    )
    # The context was verified this request: the user and the membership exist.
    assert user is not None
    assert current is not None
    ents = load_entitlements(session, ctx.tenant_id)
    return Nav(
        user.id,
        user.display_name or user.email,
        user.email,
        current,
        households,
        plan=ents.plan.display_name,
        features=ents.features,
    )


def user_zone(request: Request) -> tzinfo:
    """The browser's time zone (a cookie set by app.js), UTC when unknown or invalid."""
    name = unquote(request.cookies.get(TZ, ""))  # app.js writes it URI-encoded
    try:
        return ZoneInfo(name) if name and len(name) < 64 else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _kwh(wh: int | None) -> str:
    return "\u2013" if wh is None else f"{wh_to_kwh(wh):,.3f}".replace(",", "\u2009")


def _money(minor: int | None, currency: str | None = None) -> str:
    if minor is None:
        return "\u2013"
    text = f"{minor_to_money(minor):,.2f}".replace(",", "\u2009")
    return f"{currency} {text}" if currency else text


def _number(value: Decimal | int | float | None, places: int = 1) -> str:
    return "\u2013" if value is None else f"{value:,.{places}f}".replace(",", "\u2009")


def render(
    request: Request,
    name: str,
    *,
    nav: Nav | None = None,
    status: int = 200,
    form_targets: tuple[str, ...] = (),
    **context: Any,
) -> HTMLResponse:
    """A page with the navigation, the CSRF field and the user's time zone at hand.

    ``form_targets``: other origins the page's forms may lead to (a redirect to
    Stripe's Checkout), added to the Content-Security-Policy's ``form-action``.
    """
    zone = user_zone(request)
    token = request_token(request)  # hex digits: safe to place in markup

    def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return "" if value is None else value.astimezone(zone).strftime(fmt)

    response = TEMPLATES.TemplateResponse(
        request,
        name,
        {
            "nav": nav,
            "csrf_token": token,
            "csrf_input": Markup(f'<input type="hidden" name="{FIELD}" value="{token}">'),  # noqa: S704
            "kwh": _kwh,
            "money": _money,
            "number": _number,
            "local": local,
            "zone": str(zone),
            **context,
        },
        status_code=status,
    )
    response.headers.update(SECURITY_HEADERS)
    if form_targets:
        policy = SECURITY_HEADERS["Content-Security-Policy"]
        extra = " ".join(form_targets)
        response.headers["Content-Security-Policy"] = policy.replace(
            "form-action 'self'", f"form-action 'self' {extra}"
        )
    return response
