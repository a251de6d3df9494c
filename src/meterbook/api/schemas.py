"""Bodies of the API: unknown fields are refused; energy and money are decimals."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from meterbook.domain import RuleViolation, kwh_to_wh, money_to_minor, wh_to_kwh
from meterbook.domain.records import ReadingDraft, VoucherDraft
from meterbook.services.common import invalid


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReadingIn(Input):
    """A reading: when, the meter's kWh (3 places), a note, and whether the meter was replaced."""

    read_at: AwareDatetime
    meter_kwh: Decimal
    note: str = Field(default="", max_length=2000)
    is_replacement: bool = False

    def draft(self) -> ReadingDraft:
        try:
            wh = kwh_to_wh(self.meter_kwh, "meter_kwh")
        except RuleViolation as exc:
            raise invalid(exc) from exc
        return ReadingDraft(self.read_at, wh, self.note, self.is_replacement)


class ReadingPatch(Input):
    """Fields to change; the others keep their values."""

    read_at: AwareDatetime | None = None
    meter_kwh: Decimal | None = None
    note: str | None = Field(default=None, max_length=2000)
    is_replacement: bool | None = None

    def apply(self, current: ReadingDraft) -> ReadingDraft:
        merged = ReadingIn(
            read_at=self.read_at or current.read_at,
            meter_kwh=self.meter_kwh if self.meter_kwh is not None else wh_to_kwh(current.meter_wh),
            note=self.note if self.note is not None else current.note,
            is_replacement=(
                self.is_replacement if self.is_replacement is not None else current.is_replacement
            ),
        )
        return merged.draft()


class VoucherIn(Input):
    """A purchase: date, amount paid (2 places), currency, kWh bought (3 places), details."""

    purchased_on: date
    amount: Decimal
    currency: str = Field(default="ZAR", min_length=3, max_length=3)
    kwh: Decimal
    token_number: str = Field(default="", max_length=64)
    vendor: str = Field(default="", max_length=120)
    notes: str = Field(default="", max_length=2000)

    def draft(self) -> VoucherDraft:
        try:
            amount = money_to_minor(self.amount, "amount")
            energy = kwh_to_wh(self.kwh, "kwh")
        except RuleViolation as exc:
            raise invalid(exc) from exc
        return VoucherDraft(
            self.purchased_on,
            amount,
            self.currency.upper(),
            energy,
            self.token_number,
            self.vendor,
            self.notes,
        )


class VoucherPatch(Input):
    """Fields to change; the others keep their values."""

    purchased_on: date | None = None
    amount: Decimal | None = None
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    kwh: Decimal | None = None
    token_number: str | None = Field(default=None, max_length=64)
    vendor: str | None = Field(default=None, max_length=120)
    notes: str | None = Field(default=None, max_length=2000)

    def apply(self, current: VoucherDraft) -> VoucherDraft:
        changes = self.model_dump(exclude_none=True)
        try:
            if "amount" in changes:
                changes["amount_minor"] = money_to_minor(changes.pop("amount"), "amount")
            if "kwh" in changes:
                changes["energy_wh"] = kwh_to_wh(changes.pop("kwh"), "kwh")
        except RuleViolation as exc:
            raise invalid(exc) from exc
        if "currency" in changes:
            changes["currency"] = changes["currency"].upper()
        return replace(current, **changes)
