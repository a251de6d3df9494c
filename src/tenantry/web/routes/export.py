"""``GET /api/export``: the whole tenant as one streamed JSON document."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from tenantry import tenants
from tenantry.web.deps import DbSession, MemberContext, get_tenancy
from tenantry.web.streaming import export_download

router = APIRouter(prefix="/api", tags=["export"])


@router.get("/export")
def export(ctx: MemberContext, request: Request, session: DbSession) -> StreamingResponse:
    tenant = tenants.get_tenant(session, ctx.tenant_id)
    return export_download(
        get_tenancy(request).db, ctx, prefix="tenantry-export", slug=tenant.slug, session=session
    )
