"""``GET /api/export``: the whole tenant as one streamed JSON document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from tenantry import tenants
from tenantry.export import stream_export
from tenantry.web.deps import DbSession, MemberContext, get_tenancy

router = APIRouter(prefix="/api", tags=["export"])


@router.get("/export")
async def export(ctx: MemberContext, request: Request, session: DbSession) -> StreamingResponse:
    tenant = tenants.get_tenant(session, ctx.tenant_id)
    # The slug is canonical ([a-z0-9-]): safe in a header without quoting tricks.
    filename = f"tenantry-export-{tenant.slug}-{datetime.now(UTC):%Y%m%d}.json"
    db = get_tenancy(request).db

    # Stepped on the event loop, in one context: Starlette runs each step of a sync
    # iterator in a worker thread with a copied context, where tenant_scope() inside
    # stream_export could not reset its ContextVar.
    async def body() -> AsyncIterator[bytes]:
        for chunk in stream_export(db, ctx):
            yield chunk

    return StreamingResponse(
        body(),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
