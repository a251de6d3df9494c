"""Vouchers pages: list with filters, add, edit, delete, CSV import."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from meterbook.api.schemas import VoucherIn
from meterbook.domain import kwh_text, minor_to_money
from meterbook.models import Voucher
from meterbook.pages.csrf import check_csrf
from meterbook.pages.csv_pages import add_csv_pages
from meterbook.pages.deps import FormFields, NavDep, see_other
from meterbook.pages.forms import Errors, field_errors, voucher_draft
from meterbook.pages.listing import ListQuery, listed, notice, pages
from meterbook.pages.render import Nav, render, user_zone
from meterbook.services import import_jobs, transfer, vouchers
from meterbook.services.common import utcnow
from tenantry.errors import ValidationFailed
from tenantry.web import DbSession, MemberContext, ViewerContext, get_tenancy


def _currency(session: DbSession) -> str:
    """The currency of the latest voucher, so a household abroad need not retype it."""
    latest = session.scalar(select(Voucher.currency).order_by(Voucher.purchased_on.desc()).limit(1))
    return latest or "ZAR"


router = APIRouter(
    dependencies=[Depends(check_csrf)], tags=["meterbook pages"], include_in_schema=False
)
SORTS = {"date", "amount", "kwh"}


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
    found = listed(query, SORTS, lambda page: vouchers.list_vouchers(session, page))
    today = utcnow().astimezone(user_zone(request)).date().isoformat()
    return render(
        request,
        "vouchers.html",
        nav=nav,
        status=422 if found.error else status,
        rows=found.rows,
        total=found.total,
        pages=pages(found.total),
        q=query,
        filter_error=found.error,
        values=values or {"purchased_on": today, "currency": _currency(session)},
        errors=errors or {},
        import_errors=import_errors or [],
        import_status=import_jobs.status(get_tenancy(request).cache, import_id[:64])
        if import_id
        else None,
        notice=notice(msg),
        active="vouchers",
    )


@router.get("/vouchers")
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


@router.post("/vouchers")
def add(
    request: Request, ctx: MemberContext, nav: NavDep, session: DbSession, fields: FormFields
) -> Response:
    draft, errors = voucher_draft(request, fields)
    if draft is not None:
        try:
            vouchers.create_voucher(session, ctx, draft)
            return see_other(f"{nav.base}/vouchers?msg=added")
        except ValidationFailed as exc:
            errors = field_errors(request, exc, VoucherIn)
    return _list(request, nav, session, ListQuery(), status=422, values=fields, errors=errors)


def _import_errors(
    request: Request, nav: Nav, session: DbSession, errors: list[dict[str, object]]
) -> Response:
    return _list(request, nav, session, ListQuery(), status=422, import_errors=errors)


# Before the /vouchers/{voucher_id} routes, which would take "/vouchers/import" for an id.
add_csv_pages(router, "vouchers", transfer.export_vouchers, _import_errors)


@router.get("/vouchers/{voucher_id}/edit")
def edit_form(
    voucher_id: int, request: Request, ctx: MemberContext, nav: NavDep, session: DbSession
) -> Response:
    v = vouchers.get_voucher(session, ctx, voucher_id)
    values = {
        "purchased_on": v.purchased_on.isoformat(),
        "amount": f"{minor_to_money(v.amount_minor)}",
        "currency": v.currency,
        "kwh": kwh_text(v.energy_wh),
        "token_number": v.token_number,
        "vendor": v.vendor,
        "notes": v.notes,
    }
    return render(
        request,
        "voucher_edit.html",
        nav=nav,
        voucher_id=v.id,
        values=values,
        errors={},
        active="vouchers",
    )


@router.post("/vouchers/{voucher_id}")
def update(
    voucher_id: int,
    request: Request,
    ctx: MemberContext,
    nav: NavDep,
    session: DbSession,
    fields: FormFields,
) -> Response:
    vouchers.get_voucher(session, ctx, voucher_id)  # the same 404 before any validation
    draft, errors = voucher_draft(request, fields)
    if draft is not None:
        try:
            vouchers.update_voucher(session, ctx, voucher_id, draft)
            return see_other(f"{nav.base}/vouchers?msg=updated")
        except ValidationFailed as exc:
            errors = field_errors(request, exc, VoucherIn)
    return render(
        request,
        "voucher_edit.html",
        nav=nav,
        status=422,
        voucher_id=voucher_id,
        values=fields,
        errors=errors,
        active="vouchers",
    )


@router.post("/vouchers/{voucher_id}/delete")
def delete(
    voucher_id: int, request: Request, ctx: MemberContext, nav: NavDep, session: DbSession
) -> Response:
    vouchers.delete_voucher(session, ctx, voucher_id)
    return see_other(f"{nav.base}/vouchers?msg=deleted")
