"""The platform-admin gate: everyone else meets a missing route, by any method.

Two walls. :class:`PlatformGateMiddleware` sends a request under a platform
path (``TenancyConfig.platform_paths``) from anyone but a platform admin to a
path no route has, so the app's own not-found handling answers: the same 404
page or JSON, for every method (a wrong method cannot reveal a route with a
405) and before any body is parsed. :data:`PlatformAdmin`, declared by every
console and ``/api/admin`` route, checks again and gives the route the admin's ``User``.

Both read the admin flag from the database on each request, so a revocation
takes effect on the next one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from tenantry.errors import AuthenticationFailed
from tenantry.models import User
from tenantry.platform_admins import platform_admin
from tenantry.security.tokens import AccessClaims
from tenantry.web.deps import DbSession, bearer_token, get_tenancy
from tenantry.web.observe import note_actor
from tenantry.web.offload import in_thread

if TYPE_CHECKING:
    from tenantry.web.tenancy import Tenancy

# No route can have this path: it holds a NUL, which clients cannot send.
NOWHERE = "/\x00platform-gate"


def not_found() -> HTTPException:
    """Exactly what Starlette raises for a path no route matches."""
    return HTTPException(status_code=404)


def _matched(path: str, prefixes: tuple[str, ...]) -> str | None:
    """The platform prefix ``path`` falls under, if any."""
    for prefix in prefixes:
        if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return prefix
    return None


def _claims(tenancy: Tenancy, token: str | None) -> AccessClaims | None:
    if token is None:
        return None
    try:
        return tenancy.tokens.verify(token)
    except AuthenticationFailed:
        return None


class PlatformGateMiddleware:
    """Pure ASGI: platform paths reach the routes only for platform admins."""

    def __init__(self, app: ASGIApp, *, tenancy: Tenancy, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.tenancy = tenancy
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        prefix = _matched(scope["path"], self.prefixes) if scope["type"] == "http" else None
        if prefix is not None and not await self._admitted(scope):
            # Under the prefix's parent (``/api`` for ``/api/admin``), so the app picks the
            # same kind of 404 (JSON for the API, a page elsewhere) as for any unknown path.
            nowhere = prefix.rstrip("/").rsplit("/", 1)[0] + NOWHERE
            scope = dict(scope)
            scope["path"] = nowhere
            scope["raw_path"] = nowhere.encode()
        await self.app(scope, receive, send)

    async def _admitted(self, scope: Scope) -> bool:
        claims = _claims(self.tenancy, bearer_token(Request(scope)))
        if claims is None:
            return False
        return await in_thread(self._is_admin, claims)

    def _is_admin(self, claims: AccessClaims) -> bool:
        with self.tenancy.db.read_sessions() as session:
            return platform_admin(session, claims.user_id, claims.session_version) is not None


async def _platform_admin(request: Request, session: DbSession) -> User:
    claims = _claims(get_tenancy(request), bearer_token(request))
    admin = None
    if claims is not None:
        admin = await in_thread(platform_admin, session, claims.user_id, claims.session_version)
    if admin is None:
        raise not_found()
    note_actor(request, tenant_id=None, user_id=admin.id)
    return admin


PlatformAdmin = Annotated[User, Depends(_platform_admin)]
"""Declare it on a route (or ``dependencies=[Depends(require_platform_admin)]`` on a router)."""

require_platform_admin = _platform_admin
