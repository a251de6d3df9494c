"""Vouchers: list, create, update, delete prepaid purchases."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterbook.domain import RuleViolation
from meterbook.domain.records import VoucherDraft
from meterbook.domain.validation import check_voucher
from meterbook.models import Voucher
from meterbook.services.common import Page, invalid, utcnow
from tenantry.context import TenantContext
from tenantry.errors import NotFound
from tenantry.ids import is_row_id

SORTS = {"date": "purchased_on", "amount": "amount_minor", "kwh": "energy_wh"}


class VoucherRow(NamedTuple):
    """A voucher as lists show it (a named tuple, as readings' rows are)."""

    id: int
    purchased_on: date
    amount_minor: int
    currency: str
    energy_wh: int
    token_number: str
    vendor: str
    notes: str
    created_by: int | None


COLUMNS = tuple(getattr(Voucher, name) for name in VoucherRow._fields)


def list_vouchers(session: Session, page: Page) -> tuple[list[VoucherRow], int]:
    """One page of vouchers (columns, not entities) and the number matching the filter."""
    conditions = []
    if page.start is not None:
        conditions.append(Voucher.purchased_on >= page.start)
    if page.end is not None:
        conditions.append(Voucher.purchased_on <= page.end)
    column = getattr(Voucher, SORTS.get(page.sort.lstrip("-"), "purchased_on"))
    order = column.desc() if page.sort.startswith("-") else column.asc()
    stmt = (
        select(*COLUMNS)
        .where(*conditions)
        .order_by(order, Voucher.id)
        .limit(page.limit)
        .offset(page.offset)
    )
    rows = [VoucherRow(*r) for r in session.execute(stmt)]
    total = session.scalar(select(func.count()).select_from(Voucher).where(*conditions)) or 0
    return rows, total


def get_voucher(session: Session, ctx: TenantContext, voucher_id: int) -> Voucher:
    """The voucher, or the same :class:`NotFound` whether it is absent or another tenant's."""
    voucher = session.get(Voucher, (ctx.tenant_id, voucher_id)) if is_row_id(voucher_id) else None
    if voucher is None:
        raise NotFound("voucher not found")
    return voucher


def check(draft: VoucherDraft) -> None:
    try:
        check_voucher(
            purchased_on=draft.purchased_on,
            amount_minor=draft.amount_minor,
            energy_wh=draft.energy_wh,
            currency=draft.currency,
            token_number=draft.token_number,
            today=utcnow().date(),
            vendor=draft.vendor,
            notes=draft.notes,
        )
    except RuleViolation as exc:
        raise invalid(exc) from exc


def _apply(voucher: Voucher, draft: VoucherDraft) -> None:
    voucher.purchased_on = draft.purchased_on
    voucher.amount_minor = draft.amount_minor
    voucher.currency = draft.currency
    voucher.energy_wh = draft.energy_wh
    voucher.token_number = draft.token_number
    voucher.vendor = draft.vendor
    voucher.notes = draft.notes


def create_voucher(session: Session, ctx: TenantContext, draft: VoucherDraft) -> Voucher:
    check(draft)
    voucher = Voucher(created_by=ctx.user_id)
    _apply(voucher, draft)
    session.add(voucher)
    session.flush()
    return voucher


def update_voucher(
    session: Session, ctx: TenantContext, voucher_id: int, draft: VoucherDraft
) -> Voucher:
    voucher = get_voucher(session, ctx, voucher_id)
    check(draft)
    _apply(voucher, draft)
    session.flush()
    return voucher


def delete_voucher(session: Session, ctx: TenantContext, voucher_id: int) -> None:
    session.delete(get_voucher(session, ctx, voucher_id))
    session.flush()


def draft_of(voucher: Voucher) -> VoucherDraft:
    return VoucherDraft(
        voucher.purchased_on,
        voucher.amount_minor,
        voucher.currency,
        voucher.energy_wh,
        voucher.token_number,
        voucher.vendor,
        voucher.notes,
    )
