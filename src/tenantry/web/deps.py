"""FastAPI dependencies as ``Annotated`` aliases, so route signatures declare their needs.

``ViewerContext``, ``MemberContext``, ``AdminContext`` and ``OwnerContext`` are
the one mechanism for roles: a route names the lowest role it accepts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from tenantry.context import TenantContext, tenant_scope
from tenantry.errors import AuthenticationFailed, PermissionDenied
from tenantry.roles import Role
from tenantry.security.tokens import AccessClaims
from tenantry.web.resolution import claim_from_request, resolve_membership

if TYPE_CHECKING:
    from tenantry.web.tenancy import Tenancy


def get_tenancy(request: Request) -> Tenancy:
    tenancy: Tenancy = request.app.state.tenancy
    return tenancy


async def _session(request: Request) -> AsyncIterator[Session]:
    """One session per request, committed when the route returns without error."""
    tenancy = get_tenancy(request)
    async with tenancy.db_turn():
        session = tenancy.db.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


DbSession = Annotated[Session, Depends(_session, scope="function")]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    cookie = get_tenancy(request).config.access_cookie
    if cookie:
        return request.cookies.get(cookie) or None
    return None


async def _claims(request: Request) -> AccessClaims:
    token = bearer_token(request)
    if token is None:
        raise AuthenticationFailed("sign in first: no access token")
    return get_tenancy(request).tokens.verify(token)


CurrentClaims = Annotated[AccessClaims, Depends(_claims)]


async def _tenant_context(
    request: Request, session: DbSession, claims: CurrentClaims
) -> AsyncIterator[TenantContext]:
    tenancy = get_tenancy(request)
    claim = claim_from_request(request, claims.tenant_id, tenancy.config.base_domain)
    if claim is None:
        raise AuthenticationFailed("no tenant selected")
    ctx = resolve_membership(session, claim, claims.user_id)
    tenancy.admit(ctx)
    with tenant_scope(ctx):
        yield ctx


TenantContextDep = Annotated[TenantContext, Depends(_tenant_context, scope="function")]


def require_role(minimum: Role) -> Callable[[TenantContext], Awaitable[TenantContext]]:
    """A dependency admitting members whose role is at least ``minimum``."""

    async def dependency(ctx: TenantContextDep) -> TenantContext:
        if not ctx.role.at_least(minimum):
            raise PermissionDenied(f"this needs the {minimum.value} role or higher")
        return ctx

    dependency.__tenantry_min_role__ = minimum  # type: ignore[attr-defined]
    return dependency


ViewerContext = Annotated[TenantContext, Depends(require_role(Role.VIEWER))]
MemberContext = Annotated[TenantContext, Depends(require_role(Role.MEMBER))]
AdminContext = Annotated[TenantContext, Depends(require_role(Role.ADMIN))]
OwnerContext = Annotated[TenantContext, Depends(require_role(Role.OWNER))]
