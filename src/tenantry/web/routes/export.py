"""``GET /api/export``: the whole tenant as one streamed JSON document."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from tenantry import tenants
from tenantry.export import stream_export
from tenantry.web.deps import DbSession, MemberContext, get_tenancy

router = APIRouter(prefix="/api", tags=["export"])


async def _in_one_context(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Drive a blocking generator from worker threads, always inside the same Context.

    Starlette would run each ``next()`` in a fresh copy of the context, losing the
    tenant scope the generator entered; one Context object keeps it.
    """
    context = contextvars.copy_context()

    def step() -> bytes:
        return context.run(next, chunks, b"")

    while chunk := await anyio.to_thread.run_sync(step):
        yield chunk


@router.get("/export")
async def export(ctx: MemberContext, request: Request, session: DbSession) -> StreamingResponse:
    tenant = tenants.get_tenant(session, ctx.tenant_id)
    # The slug is canonical ([a-z0-9-]): safe in a header without quoting tricks.
    filename = f"tenantry-export-{tenant.slug}-{datetime.now(UTC):%Y%m%d}.json"
    return StreamingResponse(
        _in_one_context(stream_export(get_tenancy(request).db, ctx)),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
