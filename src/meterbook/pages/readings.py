"""Readings pages: list with filters, add, edit, delete, CSV import."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from meterbook.api.schemas import ReadingIn
from meterbook.pages.csrf import check_csrf
from meterbook.pages.csv_pages import add_csv_pages
from meterbook.pages.deps import FormFields, NavDep, see_other
from meterbook.pages.forms import Errors, field_errors, reading_draft
from meterbook.pages.listing import ListQuery, listed, notice, pages
from meterbook.pages.render import Nav, render, user_zone
from meterbook.services import import_jobs, readings, transfer
from meterbook.services.common import utcnow
from tenantry.errors import ValidationFailed
from tenantry.web import DbSession, MemberContext, ViewerContext, get_tenancy

router = APIRouter(
    dependencies=[Depends(check_csrf)], tags=["meterbook pages"], include_in_schema=False
)
SORTS = {"date", "meter_kwh"}


def _list(
    request: Request,
    nav: Nav,
    session: DbSession,
    query: ListQuery,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: Errors | None = None,
    import_errors: list[dict[str, object]] | None = None,
    msg: str = "",
    import_id: str = "",
) -> Response:
    found = listed(query, SORTS, lambda page: readings.list_readings(session, page))
    now_local = utcnow().astimezone(user_zone(request)).strftime("%Y-%m-%dT%H:%M")
    return render(
        request,
        "readings.html",
        nav=nav,
        status=422 if found.error else status,
        rows=found.rows,
        total=found.total,
        pages=pages(found.total),
        q=query,
        filter_error=found.error,
        values=values or {"read_at": now_local},
        errors=errors or {},
        import_errors=import_errors or [],
        import_status=import_jobs.status(get_tenancy(request).cache, import_id[:64])
        if import_id
        else None,
        notice=notice(msg),
        active="readings",
    )


@router.get("/readings")
def list_page(
    request: Request,
    ctx: ViewerContext,
    nav: NavDep,
    session: DbSession,
    start: str = "",
    end: str = "",
    sort: str = "-date",
    page: int = 1,
    msg: str = "",
    import_id: str = Query(default="", alias="import", max_length=64),
) -> Response:
    return _list(
        request, nav, session, ListQuery(start, end, sort, page), msg=msg, import_id=import_id
    )


@router.post("/readings")
def add(
    request: Request, ctx: MemberContext, nav: NavDep, session: DbSession, fields: FormFields
) -> Response:
    draft, errors = reading_draft(request, fields, user_zone(request))
    if draft is not None:
        try:
            readings.create_reading(session, ctx, draft)
            return see_other(f"{nav.base}/readings?msg=added")
        except ValidationFailed as exc:
            errors = field_errors(request, exc, ReadingIn)
    return _list(request, nav, session, ListQuery(), status=422, values=fields, errors=errors)


def _import_errors(
    request: Request, nav: Nav, session: DbSession, errors: list[dict[str, object]]
) -> Response:
    return _list(request, nav, session, ListQuery(), status=422, import_errors=errors)


# Before the /readings/{reading_id} routes, which would take "/readings/import" for an id.
add_csv_pages(router, "readings", transfer.export_readings, _import_errors)


@router.get("/readings/{reading_id}/edit")
def edit_form(
    reading_id: int, request: Request, ctx: MemberContext, nav: NavDep, session: DbSession
) -> Response:
    reading = readings.get_reading(session, ctx, reading_id)
    zone = user_zone(request)
    values = {
        "read_at": reading.read_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        "meter_kwh": f"{reading.meter_wh / 1000:.3f}",
        "note": reading.note,
        "is_replacement": "on" if reading.is_replacement else "",
    }
    return render(
        request,
        "reading_edit.html",
        nav=nav,
        reading_id=reading.id,
        values=values,
        errors={},
        active="readings",
    )


@router.post("/readings/{reading_id}")
def update(
    reading_id: int,
    request: Request,
    ctx: MemberContext,
    nav: NavDep,
    session: DbSession,
    fields: FormFields,
) -> Response:
    readings.get_reading(session, ctx, reading_id)  # the same 404 before any validation
    draft, errors = reading_draft(request, fields, user_zone(request))
    if draft is not None:
        try:
            readings.update_reading(session, ctx, reading_id, draft)
            return see_other(f"{nav.base}/readings?msg=updated")
        except ValidationFailed as exc:
            errors = field_errors(request, exc, ReadingIn)
    return render(
        request,
        "reading_edit.html",
        nav=nav,
        status=422,
        reading_id=reading_id,
        values=fields,
        errors=errors,
        active="readings",
    )


@router.post("/readings/{reading_id}/delete")
def delete(
    reading_id: int, request: Request, ctx: MemberContext, nav: NavDep, session: DbSession
) -> Response:
    readings.delete_reading(session, ctx, reading_id)
    return see_other(f"{nav.base}/readings?msg=deleted")
