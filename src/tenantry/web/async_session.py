"""``AsyncDbSession``: the ``AsyncSession`` dependency (the ``async`` extra: greenlet, a driver).

Apart from :mod:`tenantry.web.deps` so that a library without the extra imports cleanly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.context import TenantContext, maybe_current_tenant
from tenantry.scoping import bind_tenant
from tenantry.web.deps import (
    ASYNC_SESSION_DEPENDENCIES,
    SAFE_METHODS,
    checked_session,
    get_tenancy,
    when_tenant_known,
)
from tenantry.web.offload import in_thread

if TYPE_CHECKING:
    from tenantry.placement import Location, Placements
    from tenantry.web.tenancy import Tenancy


async def _async_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The ``AsyncSession`` twin of :data:`DbSession`, for ``async def`` routes.

    Same rules: read-only for safe methods, committed in teardown for the
    tenant the session served (or the request's, when it is already known).
    """
    checked = checked_session()
    if checked is not None:  # the membership check began it, and commits it
        yield checked
        return
    tenancy = get_tenancy(request)
    ctx = maybe_current_tenant()
    read_only = request.method in SAFE_METHODS
    # Not bound here: _serve binds it, now or once the tenant is known.
    async with tenancy.db.aio.session_for(None, read_only=read_only) as session:
        serve = partial(_serve, tenancy, session)
        if ctx is None:  # declared before the route's tenant context, or a route without one
            when_tenant_known(request, serve)
        else:
            await serve(ctx)
        yield session


async def _serve(tenancy: Tenancy, session: AsyncSession, ctx: TenantContext) -> None:
    """Make ``session`` work for ``ctx``: its commit in teardown, and its tenant's tables."""
    bind_tenant(session.sync_session, ctx)
    placements = tenancy.placements
    if placements is not None:
        placements.install_async(tenancy.db.aio)
        location = await in_thread(_location, placements, ctx)
        placements.bind_async(session, location, ctx.tenant_id)


def _location(placements: Placements, ctx: TenantContext) -> Location:
    with placements.control.read_sessions() as session:
        return placements.lookup(session, ctx.tenant_id)[0]


ASYNC_SESSION_DEPENDENCIES.add(_async_session)
AsyncDbSession = Annotated[AsyncSession, Depends(_async_session, scope="function")]
