"""``/api/imports/{id}``: the status of a CSV import running in the background."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from meterbook.api.responses import Json, upload_text
from meterbook.services import import_jobs
from tenantry.context import TenantContext
from tenantry.errors import NotFound
from tenantry.web import MemberContext, get_tenancy, in_thread

router = APIRouter(prefix="/api", tags=["meterbook"])


@router.get("/imports/{import_id}")
def import_status(import_id: str, ctx: MemberContext, request: Request) -> dict[str, Any]:
    """``queued``, ``checking``, ``done`` (with ``rows``) or ``failed`` (with the lines to fix)."""
    found = import_jobs.status(get_tenancy(request).cache, import_id[:64])
    if found is None:
        raise NotFound("no such import")
    return found


async def import_now_or_later(
    request: Request, ctx: TenantContext, session: Session, kind: str, *, background: bool
) -> Json:
    """Import a CSV in this request, or (asked for, or more than a few thousand lines) in a job.

    A job answers 202 with the id whose status ``GET /api/imports/{id}`` reports.
    """
    text = await upload_text(request)
    if background or import_jobs.is_large(text):
        tenancy = get_tenancy(request)
        import_id = await import_jobs.start(tenancy.jobs, tenancy.cache, ctx, kind, text)
        return Json({"import_id": import_id, "status": "queued"}, status_code=202)
    count = await in_thread(import_jobs.IMPORTERS[kind], session, ctx, text)
    return Json({"imported": count})
