"""Typed drafts of readings and vouchers, parsed from the text people type or upload."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from meterbook.domain.errors import RuleViolation
from meterbook.domain.units import kwh_to_wh, money_to_minor, parse_decimal

_TRUE = {"1", "true", "yes", "y", "on", "x"}
_FALSE = {"", "0", "false", "no", "n", "off"}


@dataclass(frozen=True, slots=True)
class ReadingDraft:
    read_at: datetime
    meter_wh: int
    note: str = ""
    is_replacement: bool = False


@dataclass(frozen=True, slots=True)
class VoucherDraft:
    purchased_on: date
    amount_minor: int
    currency: str
    energy_wh: int
    token_number: str = ""
    vendor: str = ""
    notes: str = ""


def parse_datetime(text: str, field: str = "read_at") -> datetime:
    """ISO 8601 date-time (or date); without an offset it is taken as UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise RuleViolation(field, "use a date and time such as 2025-03-01T07:30") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_date(text: str, field: str = "purchased_on") -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise RuleViolation(field, "use a date such as 2025-03-01") from None


def parse_bool(text: str, field: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise RuleViolation(field, "use yes or no")


def _text(row: Mapping[str, str | None], key: str, limit: int) -> str:
    value = (row.get(key) or "").strip()
    if len(value) > limit:
        raise RuleViolation(key, f"use at most {limit} characters")
    return value


def _required(row: Mapping[str, str | None], key: str) -> str:
    value = (row.get(key) or "").strip()
    if not value:
        raise RuleViolation(key, "is required")
    return value


def reading_from_row(row: Mapping[str, str | None]) -> ReadingDraft:
    """A reading from text fields ``read_at``, ``meter_kwh``, ``note``, ``is_replacement``."""
    return ReadingDraft(
        read_at=parse_datetime(_required(row, "read_at")),
        meter_wh=kwh_to_wh(parse_decimal(_required(row, "meter_kwh"), "meter_kwh"), "meter_kwh"),
        note=_text(row, "note", 2000),
        is_replacement=parse_bool(row.get("is_replacement") or "", "is_replacement"),
    )


def voucher_from_row(row: Mapping[str, str | None]) -> VoucherDraft:
    """A voucher from text fields named like the CSV columns."""
    return VoucherDraft(
        purchased_on=parse_date(_required(row, "purchased_on")),
        amount_minor=money_to_minor(
            parse_decimal(_required(row, "amount"), "amount", "150.00"), "amount"
        ),
        currency=(_text(row, "currency", 3) or "ZAR").upper(),
        energy_wh=kwh_to_wh(parse_decimal(_required(row, "kwh"), "kwh"), "kwh"),
        token_number=_text(row, "token_number", 64),
        vendor=_text(row, "vendor", 120),
        notes=_text(row, "notes", 2000),
    )
