"""``/api/readings``: list, create, read, update, delete, CSV import and export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy.orm import Session

from meterbook.api.imports import add_csv_routes
from meterbook.api.listing import page_params
from meterbook.api.outputs import (
    ReadingOut,
    ReadingPage,
)
from meterbook.api.responses import Json
from meterbook.api.schemas import ReadingIn, ReadingPatch
from meterbook.domain import kwh_text
from meterbook.models import Reading
from meterbook.services import readings, transfer
from meterbook.services.common import Page
from meterbook.services.readings import ReadingRow
from tenantry.context import TenantContext
from tenantry.tenant_writes import lock_tenant_writes
from tenantry.web import (
    DbSession,
    MemberContext,
    Reads,
    ViewerContext,
    Writes,
)

PageParams = Annotated[Page, Depends(page_params(readings.SORTS))]

router = APIRouter(prefix="/api", tags=["meterbook"])


def row_out(row: ReadingRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "read_at": row.read_at,
        "meter_kwh": kwh_text(row.meter_wh),
        "note": row.note,
        "is_replacement": row.is_replacement,
        "created_by": row.created_by,
        "consumed_kwh": None if row.consumed_wh is None else kwh_text(row.consumed_wh),
    }


def reading_out(r: Reading) -> dict[str, Any]:
    return {
        "id": r.id,
        "read_at": r.read_at,
        "meter_kwh": kwh_text(r.meter_wh),
        "note": r.note,
        "is_replacement": r.is_replacement,
        "created_by": r.created_by,
        "created_at": r.created_at,
    }


@router.get("/readings", response_model=ReadingPage)
async def list_readings(ctx: ViewerContext, reads: Reads, page: PageParams) -> Json:
    """Readings with ``consumed_kwh`` since the previous one; ``from``/``to`` are dates."""
    rows, total = await reads.run(readings.list_readings, page)
    return Json(
        {
            "items": [row_out(r) for r in rows],
            "total": total,
            "limit": page.limit,
            "offset": page.offset,
        }
    )


@router.post("/readings", status_code=201, response_model=ReadingOut)
async def create_reading(body: ReadingIn, ctx: MemberContext, writes: Writes) -> Json:
    reading = await writes.run(readings.create_reading, ctx, body.draft())
    return Json(reading_out(reading), status_code=201)


add_csv_routes(
    router, "readings", "read_at,meter_kwh[,note,is_replacement]", transfer.export_readings
)


@router.get("/readings/{reading_id:int}", response_model=ReadingOut)
def get_reading(reading_id: int, ctx: ViewerContext, session: DbSession) -> Json:
    return Json(reading_out(readings.get_reading(session, ctx, reading_id)))


def _patch(session: Session, ctx: TenantContext, reading_id: int, body: ReadingPatch) -> Reading:
    lock_tenant_writes(session, ctx.tenant_id)  # the fields left out keep what is stored now
    # Held here, the loaded reading stays in the session's identity map (it keeps clean
    # objects by weak reference only), so update_reading finds it without a second SELECT.
    stored = readings.get_reading(session, ctx, reading_id)
    return readings.update_reading(session, ctx, reading_id, body.apply(readings.draft_of(stored)))


@router.patch("/readings/{reading_id:int}", response_model=ReadingOut)
async def update_reading(
    reading_id: int, body: ReadingPatch, ctx: MemberContext, writes: Writes
) -> Json:
    return Json(reading_out(await writes.run(_patch, ctx, reading_id, body)))


@router.delete("/readings/{reading_id:int}", status_code=204)
async def delete_reading(reading_id: int, ctx: MemberContext, writes: Writes) -> Response:
    await writes.run(readings.delete_reading, ctx, reading_id)
    return Response(status_code=204)
