"""CSV in and out of a table (``/api/<kind>/import``, ``/api/<kind>.csv``), and
``/api/imports/{id}``: the status of an import running in the background."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from meterbook.api.outputs import CSV_RESPONSE, QUEUED, Imported, csv_upload
from meterbook.api.responses import Json, csv_download, upload_text
from meterbook.plans import CSV_IMPORT
from meterbook.services import import_jobs
from meterbook.services.common import utcnow
from tenantry.context import TenantContext
from tenantry.errors import NotFound, ServiceUnavailable
from tenantry.roles import Role
from tenantry.web import DbSession, MemberContext, get_tenancy, in_thread, requires_feature

router = APIRouter(prefix="/api", tags=["meterbook"])


@router.get("/imports/{import_id}")
def import_status(import_id: str, ctx: MemberContext, request: Request) -> dict[str, Any]:
    """``queued``, ``checking``, ``done`` (with ``rows``) or ``failed`` (with the lines to fix)."""
    cache = get_tenancy(request).cache
    found = import_jobs.status(cache, import_id[:64])
    if found is None and not cache.reachable:  # the status lives there: unknown, not absent
        raise ServiceUnavailable("the import's status cannot be read right now; try again")
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
        # ``state`` as GET /api/imports/{id} says it; ``status``, its first name, kept.
        queued = {"import_id": import_id, "state": "queued", "status": "queued"}
        return Json(queued, status_code=202)
    count = await in_thread(import_jobs.IMPORTERS[kind], session, ctx, text)
    return Json({"imported": count})


def add_csv_routes(
    router: APIRouter, kind: str, columns: str, export: Callable[[Session], Iterator[str]]
) -> None:
    """``POST /api/<kind>/import`` (all rows or none; large files by a job) and
    ``GET /api/<kind>.csv`` (streamed) for one of the importers in :mod:`import_jobs`."""

    async def import_csv(
        request: Request, ctx: MemberContext, session: DbSession, background: bool = False
    ) -> Json:
        return await import_now_or_later(request, ctx, session, kind, background=background)

    import_csv.__doc__ = (
        f"CSV with ``{columns}``: every row or none.\n\n"
        "Large files (or ``?background=true``) are imported by a job: 202 with an ``import_id``."
    )

    def export_csv(ctx: MemberContext, request: Request, session: DbSession) -> StreamingResponse:
        name = f"{kind}-{utcnow():%Y%m%d}.csv"
        return csv_download(get_tenancy(request).db, ctx, export, name, session=session)

    router.add_api_route(
        f"/{kind}/import",
        import_csv,
        methods=["POST"],
        name=f"import_{kind}",
        dependencies=[Depends(requires_feature(CSV_IMPORT, Role.MEMBER))],
        response_model=Imported,
        responses=QUEUED,
        openapi_extra=csv_upload(columns),
    )
    router.add_api_route(
        f"/{kind}.csv",
        export_csv,
        methods=["GET"],
        name=f"export_{kind}",
        response_class=StreamingResponse,
        responses=CSV_RESPONSE,
    )
