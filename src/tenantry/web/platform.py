"""The platform-admin gate: one dependency, and everyone else gets a missing route's 404.

Console pages and every ``/api/admin`` route declare :data:`PlatformAdmin`. A
signed-out caller, a tenant's own admin and a platform admin whose grant was
revoked a moment ago all get the very 404 an unknown path gets, so the
console's existence is not revealed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from tenantry.errors import AuthenticationFailed
from tenantry.platform_admins import is_platform_admin
from tenantry.web.deps import DbSession, bearer_token, get_tenancy
from tenantry.web.observe import note_actor


@dataclass(frozen=True, slots=True)
class Operator:
    """A verified platform admin acting in this request."""

    user_id: int


def not_found() -> HTTPException:
    """Exactly what Starlette raises for a path no route matches."""
    return HTTPException(status_code=404)


async def _platform_admin(request: Request, session: DbSession) -> Operator:
    token = bearer_token(request)
    if token is None:
        raise not_found()
    try:
        claims = get_tenancy(request).tokens.verify(token)
    except AuthenticationFailed:
        raise not_found() from None
    if not is_platform_admin(session, claims.user_id):
        raise not_found()
    note_actor(request, tenant_id=None, user_id=claims.user_id)
    return Operator(claims.user_id)


PlatformAdmin = Annotated[Operator, Depends(_platform_admin)]
"""Declare it on a route (or ``dependencies=[Depends(require_platform_admin)]`` on a router)."""

require_platform_admin = _platform_admin
