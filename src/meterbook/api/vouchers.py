"""``/api/vouchers``: list, create, read, update, delete, CSV import and export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy.orm import Session

from meterbook.api.imports import add_csv_routes
from meterbook.api.listing import page_params
from meterbook.api.outputs import (
    VoucherOut,
    VoucherPage,
)
from meterbook.api.responses import Json
from meterbook.api.schemas import VoucherIn, VoucherPatch
from meterbook.domain import kwh_text, minor_to_money
from meterbook.domain.insights import price_per_kwh
from meterbook.models import Voucher
from meterbook.services import transfer, vouchers
from meterbook.services.common import Page
from meterbook.services.vouchers import VoucherRow
from tenantry.context import TenantContext
from tenantry.web import (
    DbSession,
    MemberContext,
    Reads,
    ViewerContext,
    Writes,
)

PageParams = Annotated[Page, Depends(page_params(vouchers.SORTS))]

router = APIRouter(prefix="/api", tags=["meterbook"])


def voucher_out(v: VoucherRow | Voucher) -> dict[str, Any]:
    return {
        "id": v.id,
        "purchased_on": v.purchased_on,
        "amount": minor_to_money(v.amount_minor),
        "currency": v.currency,
        "kwh": kwh_text(v.energy_wh),
        "price_per_kwh": price_per_kwh(v.amount_minor, v.energy_wh),
        "token_number": v.token_number,
        "vendor": v.vendor,
        "notes": v.notes,
        "created_by": v.created_by,
    }


@router.get("/vouchers", response_model=VoucherPage)
async def list_vouchers(ctx: ViewerContext, reads: Reads, page: PageParams) -> Json:
    """Vouchers; ``from``/``to`` filter the purchase date, ``sort`` is date, amount or kwh."""
    rows, total = await reads.run(vouchers.list_vouchers, page)
    return Json(
        {
            "items": [voucher_out(r) for r in rows],
            "total": total,
            "limit": page.limit,
            "offset": page.offset,
        }
    )


@router.post("/vouchers", status_code=201, response_model=VoucherOut)
async def create_voucher(body: VoucherIn, ctx: MemberContext, writes: Writes) -> Json:
    voucher = await writes.run(vouchers.create_voucher, ctx, body.draft())
    return Json(voucher_out(voucher), status_code=201)


add_csv_routes(
    router,
    "vouchers",
    "purchased_on,amount,kwh[,currency,token_number,vendor,notes]",
    transfer.export_vouchers,
)


@router.get("/vouchers/{voucher_id:int}", response_model=VoucherOut)
def get_voucher(voucher_id: int, ctx: ViewerContext, session: DbSession) -> Json:
    return Json(voucher_out(vouchers.get_voucher(session, ctx, voucher_id)))


def _patch(session: Session, ctx: TenantContext, voucher_id: int, body: VoucherPatch) -> Voucher:
    current = vouchers.draft_of(vouchers.get_voucher(session, ctx, voucher_id))
    return vouchers.update_voucher(session, ctx, voucher_id, body.apply(current))


@router.patch("/vouchers/{voucher_id:int}", response_model=VoucherOut)
async def update_voucher(
    voucher_id: int, body: VoucherPatch, ctx: MemberContext, writes: Writes
) -> Json:
    return Json(voucher_out(await writes.run(_patch, ctx, voucher_id, body)))


@router.delete("/vouchers/{voucher_id:int}", status_code=204)
async def delete_voucher(voucher_id: int, ctx: MemberContext, writes: Writes) -> Response:
    await writes.run(vouchers.delete_voucher, ctx, voucher_id)
    return Response(status_code=204)
