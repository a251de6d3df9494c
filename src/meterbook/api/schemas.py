"""Bodies of the API: unknown fields are refused; energy and money are decimals."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from meterbook.domain import RuleViolation, kwh_to_wh, money_to_minor, wh_to_kwh
from meterbook.domain.records import ReadingDraft, VoucherDraft
from meterbook.services.common import invalid
from tenantry.web import Input
from tenantry.web import IsoDateTime as CoreIsoDateTime


def _decimal_in(places: int, digits: int, example: str) -> tuple[WithJsonSchema, BeforeValidator]:
    """A JSON number or a plain decimal string, as the schema says and nothing more.

    At most ``digits`` integer digits and ``places`` decimals (the stored limits);
    "1e3", "1,5" or " 12" are refused here as the schema refuses them (CSV
    imports, for people, are more lenient). A minus sign passes, for the rules to refuse.
    """
    # [0-9], not \d: Python's \d takes any script's digits (fullwidth, Arabic-Indic),
    # the schema's (ECMA) only these.
    pattern = rf"^-?[0-9]{{1,{digits}}}(\.[0-9]{{1,{places}}})?$"
    largest = Decimal(10**digits) - Decimal(10) ** -places
    schema = WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "number",
                    "minimum": 0,
                    "maximum": float(largest),
                    "multipleOf": float(Decimal(10) ** -places),
                },
                {"type": "string", "pattern": pattern},
            ],
            "examples": [example],
        }
    )

    def plain(value: object) -> object:
        # A plain decimal with too many digits passes on to the rules, which say what is
        # wrong with it ("is too large", "use at most 3 decimal places") as for a number.
        if isinstance(value, bool) or (isinstance(value, str) and not _PLAIN.match(value)):
            raise ValueError(f"use a decimal such as {example}")
        return value

    return schema, BeforeValidator(plain)


_PLAIN = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")  # [0-9]: see _decimal_in


def _iso_text(value: object) -> object:
    # A bare number would be read as a Unix timestamp ("read_at": 0 is 1970).
    if isinstance(value, int | float):
        raise ValueError("use an ISO 8601 date or date-time string")
    return value


KwhIn = Annotated[Decimal, *_decimal_in(3, 10, "1234.567")]
MoneyIn = Annotated[Decimal, *_decimal_in(2, 11, "150.00")]


def _in_utc(value: datetime) -> datetime:
    # Stored and read back in UTC: the answer to a write shows the time as every read will.
    return value.astimezone(UTC)


# The core's (ISO 8601 with a zone, never a number), answered in UTC.
IsoDateTime = Annotated[CoreIsoDateTime, AfterValidator(_in_utc)]
IsoDate = Annotated[date, BeforeValidator(_iso_text)]


class ReadingIn(Input):
    """A reading: when, the meter's kWh (3 places), a note, and whether the meter was replaced."""

    read_at: IsoDateTime
    meter_kwh: KwhIn
    note: str = Field(default="", max_length=2000)
    is_replacement: StrictBool = False

    def draft(self) -> ReadingDraft:
        try:
            wh = kwh_to_wh(self.meter_kwh, "meter_kwh")
        except RuleViolation as exc:
            raise invalid(exc) from exc
        return ReadingDraft(self.read_at, wh, self.note, self.is_replacement)


# A field left out of a PATCH: ``None`` in Python, absent from the schema, where a null
# would read as a value the server accepts (it refuses one: Patch below).
LeftOut = SkipJsonSchema[None]


def _no_null_defaults(schema: dict[str, Any]) -> None:
    """A left-out field's ``None`` is no default a client may send: not in the schema."""
    for field in schema.get("properties", {}).values():
        if "default" in field and field["default"] is None:
            del field["default"]


class Patch(Input):
    """Fields to change; the others, left out, keep their values. A null is refused, not
    taken for "unchanged": ``{"meter_kwh": null}`` answered 200 and changed nothing."""

    model_config = ConfigDict(json_schema_extra=_no_null_defaults)

    @field_validator("*", mode="before")
    @classmethod
    def _no_null(cls, value: object) -> object:
        if value is None:  # only fields sent are validated: a left-out one is no null
            raise ValueError("cannot be null: leave the field out to keep its value")
        return value


class ReadingPatch(Patch):
    """Fields to change; the others keep their values."""

    read_at: IsoDateTime | LeftOut = None
    meter_kwh: KwhIn | LeftOut = None
    note: str | LeftOut = Field(default=None, max_length=2000)
    is_replacement: StrictBool | LeftOut = None

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

    purchased_on: IsoDate
    amount: MoneyIn
    currency: str = Field(default="ZAR", min_length=3, max_length=3)
    kwh: KwhIn
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


class VoucherPatch(Patch):
    """Fields to change; the others keep their values."""

    purchased_on: IsoDate | LeftOut = None
    amount: MoneyIn | LeftOut = None
    currency: str | LeftOut = Field(default=None, min_length=3, max_length=3)
    kwh: KwhIn | LeftOut = None
    token_number: str | LeftOut = Field(default=None, max_length=64)
    vendor: str | LeftOut = Field(default=None, max_length=120)
    notes: str | LeftOut = Field(default=None, max_length=2000)

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
