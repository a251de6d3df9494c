"""CSRF protection: a token bound to the browser's session id by HMAC, checked on every POST.

The session id lives in an HttpOnly cookie; forms carry ``HMAC(key, sid)``.
Another site can make the browser send the cookie (SameSite=Lax already
stops most of that) but can neither read it nor compute the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request

from tenantry.errors import PermissionDenied
from tenantry.web import get_tenancy

FIELD = "csrf_token"
HEADER = "x-csrf-token"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
SID_STATE = "meterbook.sid"


class CsrfFailed(PermissionDenied):
    """The form did not come from one of our pages."""

    code = "csrf_failed"


def new_sid() -> str:
    return secrets.token_urlsafe(24)


def token_for(secret: str, sid: str) -> str:
    key = hashlib.sha256(b"meterbook-csrf:" + secret.encode()).digest()
    return hmac.new(key, sid.encode(), hashlib.sha256).hexdigest()


def valid(secret: str, sid: str | None, token: str | None) -> bool:
    if not sid or not token:
        return False
    return hmac.compare_digest(token_for(secret, sid), token)


def request_sid(request: Request) -> str:
    """The session id the session middleware found or created for this request."""
    sid: str = request.scope.get(SID_STATE, "")
    return sid


def request_token(request: Request) -> str:
    return token_for(get_tenancy(request).config.secret_key, request_sid(request))


def has_bearer(request: Request) -> bool:
    """A bearer header is no ambient credential: another site cannot make a browser send one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


async def check_csrf(request: Request) -> None:
    """Router dependency of every page: an unsafe method needs the session's token."""
    if request.method in SAFE or has_bearer(request):
        return
    token = request.headers.get(HEADER)
    if token is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(FIELD)
            token = value if isinstance(value, str) else None
    if not valid(get_tenancy(request).config.secret_key, request_sid(request), token):
        raise CsrfFailed("this form has expired or did not come from this site; reload and retry")
