"""``/api/vouchers``: list, create, read, update, delete, CSV import and export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse

from meterbook.api.imports import import_now_or_later
from meterbook.api.listing import page_params
from meterbook.api.responses import Json, csv_download
from meterbook.api.schemas import VoucherIn, VoucherPatch
from meterbook.domain import minor_to_money, wh_to_kwh
from meterbook.domain.insights import price_per_kwh
from meterbook.models import Voucher
from meterbook.plans import CSV_IMPORT
from meterbook.services import transfer, vouchers
from meterbook.services.common import Page, utcnow
from meterbook.services.vouchers import VoucherRow
from tenantry.web import (
    DbSession,
    MemberContext,
    ViewerContext,
    get_tenancy,
    requires_feature,
)

PageParams = Annotated[Page, Depends(page_params(vouchers.SORTS))]

router = APIRouter(prefix="/api", tags=["meterbook"])


def voucher_out(v: VoucherRow | Voucher) -> dict[str, Any]:
    return {
        "id": v.id,
        "purchased_on": v.purchased_on,
        "amount": minor_to_money(v.amount_minor),
        "currency": v.currency,
        "kwh": wh_to_kwh(v.energy_wh),
        "price_per_kwh": price_per_kwh(v.amount_minor, v.energy_wh),
        "token_number": v.token_number,
        "vendor": v.vendor,
        "notes": v.notes,
        "created_by": v.created_by,
    }


@router.get("/vouchers")
def list_vouchers(ctx: ViewerContext, session: DbSession, page: PageParams) -> Json:
    """Vouchers; ``from``/``to`` filter the purchase date, ``sort`` is date, amount or kwh."""
    rows, total = vouchers.list_vouchers(session, page)
    return Json(
        {
            "items": [voucher_out(r) for r in rows],
            "total": total,
            "limit": page.limit,
            "offset": page.offset,
        }
    )


@router.post("/vouchers", status_code=201)
def create_voucher(body: VoucherIn, ctx: MemberContext, session: DbSession) -> Json:
    voucher = vouchers.create_voucher(session, ctx, body.draft())
    return Json(voucher_out(voucher), status_code=201)


@router.post("/vouchers/import", dependencies=[Depends(requires_feature(CSV_IMPORT))])
async def import_vouchers(
    request: Request, ctx: MemberContext, session: DbSession, background: bool = False
) -> Json:
    """CSV with ``purchased_on,amount,kwh[,currency,token_number,vendor,notes]``: all or none.

    Large files (or ``?background=true``) are imported by a job: 202 with an ``import_id``.
    """
    return await import_now_or_later(request, ctx, session, "vouchers", background=background)


@router.get("/vouchers.csv")
def export_vouchers(ctx: MemberContext, request: Request, session: DbSession) -> StreamingResponse:
    name = f"vouchers-{utcnow():%Y%m%d}.csv"
    return csv_download(
        get_tenancy(request).db, ctx, transfer.export_vouchers, name, session=session
    )


@router.get("/vouchers/{voucher_id}")
def get_voucher(voucher_id: int, ctx: ViewerContext, session: DbSession) -> Json:
    return Json(voucher_out(vouchers.get_voucher(session, ctx, voucher_id)))


@router.patch("/vouchers/{voucher_id}")
def update_voucher(
    voucher_id: int, body: VoucherPatch, ctx: MemberContext, session: DbSession
) -> Json:
    current = vouchers.draft_of(vouchers.get_voucher(session, ctx, voucher_id))
    voucher = vouchers.update_voucher(session, ctx, voucher_id, body.apply(current))
    return Json(voucher_out(voucher))


@router.delete("/vouchers/{voucher_id}", status_code=204)
def delete_voucher(voucher_id: int, ctx: MemberContext, session: DbSession) -> Response:
    vouchers.delete_voucher(session, ctx, voucher_id)
    return Response(status_code=204)
