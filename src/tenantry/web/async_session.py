"""``AsyncDbSession``: the ``AsyncSession`` dependency (the ``async`` extra: greenlet, a driver).

Apart from :mod:`tenantry.web.deps` so that a library without the extra imports cleanly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import nullcontext
from typing import TYPE_CHECKING, Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.context import TenantContext, maybe_current_tenant, tenant_scope
from tenantry.scoping import bind_tenant, bound_context
from tenantry.web.deps import SAFE_METHODS, get_tenancy
from tenantry.web.offload import in_thread

if TYPE_CHECKING:
    from tenantry.placement import Location, Placements


async def _async_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The ``AsyncSession`` twin of :data:`DbSession`, for ``async def`` routes.

    Same rules: read-only for safe methods, committed in teardown for the
    tenant the session served (or the request's, when it is already known).
    """
    tenancy = get_tenancy(request)
    aio = tenancy.db.aio
    factory = aio.read_sessions if request.method in SAFE_METHODS else aio.sessions
    session = factory()
    ctx = maybe_current_tenant()
    if ctx is not None:
        bind_tenant(session.sync_session, ctx)
        placements = tenancy.placements
        if placements is not None:  # the tenant tables of its placement (tenantry.placement)
            placements.install_async(aio)
            location = await in_thread(_location, placements, ctx)
            placements.bind_async(session, location, ctx.tenant_id)
    try:
        yield session
    except BaseException:
        with anyio.CancelScope(shield=True):
            await session.rollback()
            await session.close()
        raise
    bound = bound_context(session.sync_session)
    with anyio.CancelScope(shield=True):
        try:
            with tenant_scope(bound) if bound is not None else nullcontext():
                await session.commit()
        finally:
            await session.close()  # rolls back whatever a failed commit left


def _location(placements: Placements, ctx: TenantContext) -> Location:
    with placements.control.read_sessions() as session:
        return placements.lookup(session, ctx.tenant_id)[0]


AsyncDbSession = Annotated[AsyncSession, Depends(_async_session, scope="function")]
