"""Rendering console pages in meterbook's look (its stylesheet), with the console's CSRF field."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from tenantry.errors import PermissionDenied
from tenantry.web import Operator, get_tenancy

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
FIELD = "csrf_token"
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def csrf_token(request: Request, admin: Operator) -> str:
    """HMAC of the admin's id under the server key: another site can neither read nor forge it."""
    key = hashlib.sha256(b"console-csrf:" + get_tenancy(request).config.secret_key.encode())
    return hmac.new(key.digest(), str(admin.user_id).encode(), hashlib.sha256).hexdigest()


def check_csrf(request: Request, admin: Operator, posted: str | None) -> None:
    if not posted or not hmac.compare_digest(posted, csrf_token(request, admin)):
        raise PermissionDenied("this form has expired or did not come from this site; reload")


def size(n: int | None) -> str:
    if n is None:
        return "\u2013"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return str(n)


def when(value: datetime | None) -> str:
    return "\u2013" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


def render(
    request: Request, name: str, admin: Operator, *, status: int = 200, **context: Any
) -> HTMLResponse:
    token = csrf_token(request, admin)
    response = TEMPLATES.TemplateResponse(
        request,
        name,
        {
            "csrf_input": Markup(f'<input type="hidden" name="{FIELD}" value="{token}">'),  # noqa: S704
            "size": size,
            "when": when,
            **context,
        },
        status_code=status,
    )
    response.headers.update(HEADERS)
    return response
