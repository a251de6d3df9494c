"""The CSV download and upload of a list page (``/<kind>.csv``, ``/<kind>/import``).

Readings and vouchers differ only in their importer, their export and how their
list page renders; the flow (a job for a long file, the list again with the rows to
fix) is one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from meterbook.api.responses import csv_download, upload_text
from meterbook.pages.deps import see_other
from meterbook.pages.forms import import_problems
from meterbook.pages.render import Nav, load_nav
from meterbook.plans import CSV_IMPORT
from meterbook.services import import_jobs
from meterbook.services.common import utcnow
from tenantry.context import TenantContext
from tenantry.errors import ValidationFailed
from tenantry.roles import Role
from tenantry.web import DbSession, MemberContext, get_tenancy, in_thread, requires_feature

# The list page again, answering 422 with an import's rows to fix.
Relist = Callable[[Request, Nav, Session, list[dict[str, object]]], Response]


def add_csv_pages(
    router: APIRouter, kind: str, export: Callable[[Session], Iterator[str]], relist: Relist
) -> None:
    """``GET /<kind>.csv`` and ``POST /<kind>/import`` for one of :mod:`import_jobs`' kinds."""

    def export_csv(request: Request, ctx: MemberContext, session: DbSession) -> StreamingResponse:
        name = f"{kind}-{utcnow():%Y%m%d}.csv"
        return csv_download(get_tenancy(request).db, ctx, export, name, session=session)

    async def import_csv(request: Request, ctx: MemberContext, session: DbSession) -> Response:
        # The upload is read as the API reads it (upload_text), so both say the same of a bad
        # one; the page's own reads (its nav) wait in a thread till the whole file is here.
        try:
            text = await upload_text(request)
        except ValidationFailed as exc:
            return await in_thread(_relist, request, ctx, session, exc)
        base = (await in_thread(load_nav, session, ctx)).base
        try:
            if import_jobs.is_large(text):  # a long file: a job, the page follows its progress
                tenancy = get_tenancy(request)
                import_id = await import_jobs.start(tenancy.jobs, tenancy.cache, ctx, kind, text)
                return see_other(f"{base}/{kind}?import={import_id}")
            await in_thread(import_jobs.IMPORTERS[kind], session, ctx, text)
        except ValidationFailed as exc:
            return await in_thread(_relist, request, ctx, session, exc)
        return see_other(f"{base}/{kind}?msg=imported")

    def _relist(
        request: Request, ctx: TenantContext, session: Session, exc: ValidationFailed
    ) -> Response:
        return relist(request, load_nav(session, ctx), session, import_problems(exc))

    router.add_api_route(f"/{kind}.csv", export_csv, methods=["GET"], name=f"{kind}_csv_page")
    router.add_api_route(
        f"/{kind}/import",
        import_csv,
        methods=["POST"],
        name=f"import_{kind}_page",
        dependencies=[Depends(requires_feature(CSV_IMPORT, Role.MEMBER))],
    )
