"""The platform-admin gate: everyone else meets a missing route, by any method.

Two walls. :class:`PlatformGateMiddleware` sends a request under a platform
path (``TenancyConfig.platform_paths``) from anyone but a platform admin to a
path no route has, so the app's own not-found handling answers: the same 404
page or JSON, for every method (a wrong method cannot reveal a route with a
405) and before any body is parsed. :data:`PlatformAdmin`, declared by every
console and ``/api/admin`` route, checks again and names the admin.

Both read the admin flag from the database on each request, so a revocation
takes effect on the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from tenantry.errors import AuthenticationFailed
from tenantry.platform_admins import is_platform_admin
from tenantry.web.deps import DbSession, bearer_token, get_tenancy
from tenantry.web.observe import note_actor
from tenantry.web.offload import in_thread

if TYPE_CHECKING:
    from tenantry.web.tenancy import Tenancy

# No route can have this path: it holds a NUL, which clients cannot send.
NOWHERE = "/\x00platform-gate"


@dataclass(frozen=True, slots=True)
class Operator:
    """A verified platform admin acting in this request."""

    user_id: int


def not_found() -> HTTPException:
    """Exactly what Starlette raises for a path no route matches."""
    return HTTPException(status_code=404)


def is_platform_path(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def _token_user(tenancy: Tenancy, token: str | None) -> int | None:
    if token is None:
        return None
    try:
        return tenancy.tokens.verify(token).user_id
    except AuthenticationFailed:
        return None


class PlatformGateMiddleware:
    """Pure ASGI: platform paths reach the routes only for platform admins."""

    def __init__(self, app: ASGIApp, *, tenancy: Tenancy, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.tenancy = tenancy
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gated = scope["type"] == "http" and is_platform_path(scope["path"], self.prefixes)
        if gated and not await self._admitted(scope):
            scope = dict(scope)
            scope["path"] = NOWHERE
            scope["raw_path"] = NOWHERE.encode()
        await self.app(scope, receive, send)

    async def _admitted(self, scope: Scope) -> bool:
        user_id = _token_user(self.tenancy, bearer_token(Request(scope)))
        if user_id is None:
            return False
        return await in_thread(self._is_admin, user_id)

    def _is_admin(self, user_id: int) -> bool:
        with self.tenancy.db.read_sessions() as session:
            return is_platform_admin(session, user_id)


async def _platform_admin(request: Request, session: DbSession) -> Operator:
    user_id = _token_user(get_tenancy(request), bearer_token(request))
    if user_id is None or not is_platform_admin(session, user_id):
        raise not_found()
    note_actor(request, tenant_id=None, user_id=user_id)
    return Operator(user_id)


PlatformAdmin = Annotated[Operator, Depends(_platform_admin)]
"""Declare it on a route (or ``dependencies=[Depends(require_platform_admin)]`` on a router)."""

require_platform_admin = _platform_admin
