"""Rules for readings and vouchers: no negatives, nothing in the future, meters only go up."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

from meterbook.domain.errors import RuleViolation
from tenantry.text import CONTROL

# Clocks of phones and servers disagree a little; a reading "now" must not be refused.
CLOCK_SKEW = timedelta(minutes=5)
# Nothing metered before this: a year 0001 or 1024 is a typo, and would wreck every balance.
EARLIEST = date(1900, 1, 1)
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_TOKEN = re.compile(r"^[0-9A-Za-z -]*$")


@dataclass(frozen=True, slots=True)
class MeterPoint:
    """A reading as the rules see it; ``ref`` tells the caller which row it came from."""

    read_at: datetime
    meter_wh: int
    is_replacement: bool = False
    ref: int | None = None


# The longest text each field takes, as the API's bodies say (schemas.py).
TEXT_LIMITS = {"note": 2000, "notes": 2000, "vendor": 120}


def check_text(field: str, value: str) -> None:
    """Text as the API takes it, wherever it comes from (a form, a CSV file, an import):
    no control character but tab and line breaks (PostgreSQL refuses NUL, SQLite keeps
    it), and no longer than the field allows."""
    if "\x00" in value:
        raise RuleViolation(field, "must not contain NUL characters")
    if CONTROL.search(value):
        raise RuleViolation(field, "must not contain control characters")
    longest = TEXT_LIMITS.get(field)
    if longest is not None and len(value) > longest:
        raise RuleViolation(field, f"has at most {longest} characters")


def check_reading_time(read_at: datetime, now: datetime) -> None:
    if read_at.tzinfo is None:
        raise RuleViolation("read_at", "give the time with its time zone")
    if read_at.astimezone(UTC).date() < EARLIEST:  # as stored: an offset may cross the day
        raise RuleViolation("read_at", f"a reading cannot be before {EARLIEST.isoformat()}")
    if read_at > now + CLOCK_SKEW:
        raise RuleViolation("read_at", "a reading cannot be in the future")


def check_order(
    previous: MeterPoint | None, point: MeterPoint, following: MeterPoint | None
) -> None:
    """``point`` fits between its neighbours: a meter never runs backwards, except when replaced.

    Raises:
        RuleViolation: on ``meter_kwh`` when the value breaks the order, on
            ``read_at`` when another reading has the same time.
    """
    for other in (previous, following):
        if other is not None and other.read_at == point.read_at:
            raise RuleViolation("read_at", "another reading has exactly this time")
    if previous is not None and point.meter_wh < previous.meter_wh and not point.is_replacement:
        raise RuleViolation(
            "meter_kwh",
            "lower than the previous reading; mark it as a meter replacement if the meter changed",
        )
    if (
        following is not None
        and following.meter_wh < point.meter_wh
        and not following.is_replacement
    ):
        raise RuleViolation("meter_kwh", "higher than the next reading")


def sequence_errors(points: Sequence[MeterPoint]) -> list[tuple[int | None, RuleViolation]]:
    """Check a whole series (existing readings and new ones); each error names a new row.

    An error between an existing and a new reading is attributed to the new one.
    """
    ordered = sorted(points, key=lambda p: p.read_at)
    errors: list[tuple[int | None, RuleViolation]] = []
    for before, after in pairwise(ordered):
        blamed = after.ref if after.ref is not None else before.ref
        if blamed is None:
            continue  # two stored readings: not this import's business
        if after.read_at == before.read_at:
            errors.append(
                (blamed, RuleViolation("read_at", "another reading has exactly this time"))
            )
        elif after.meter_wh < before.meter_wh and not after.is_replacement:
            message = (
                "lower than the previous reading; mark it as a meter replacement"
                if after.ref is not None
                else "higher than the next reading"
            )
            errors.append((blamed, RuleViolation("meter_kwh", message)))
    return errors


def check_voucher(
    *,
    purchased_on: date,
    amount_minor: int,
    energy_wh: int,
    currency: str,
    token_number: str,
    today: date,
    vendor: str = "",
    notes: str = "",
) -> None:
    """A purchase: not in the future, nothing negative, a three-letter currency code."""
    if purchased_on > today + timedelta(days=1):
        raise RuleViolation("purchased_on", "a purchase cannot be in the future")
    if purchased_on < EARLIEST:
        raise RuleViolation("purchased_on", f"a purchase cannot be before {EARLIEST.isoformat()}")
    if amount_minor < 0:
        raise RuleViolation("amount", "must not be negative")
    if energy_wh < 0:
        raise RuleViolation("kwh", "must not be negative")
    # Imported here: the models import this module, and the library's CLI loads them
    # (`tenantry doctor`) where the server extra, with babel, is not installed.
    from babel.numbers import is_currency

    if not _CURRENCY.match(currency) or not is_currency(currency):
        raise RuleViolation("currency", "use an ISO 4217 currency code such as ZAR or EUR")
    if not _TOKEN.match(token_number):
        raise RuleViolation("token_number", "use digits, letters, spaces and hyphens only")
    check_text("vendor", vendor)
    check_text("notes", notes)


def imported_row_problem(check: Callable[[], None]) -> None:
    """Run a rule on a row an import brings, as a ``ValueError`` naming the field."""
    try:
        check()
    except RuleViolation as exc:
        raise ValueError(f"{exc.field}: {exc.message}") from None


def check_imported_reading(values: Mapping[str, Any]) -> None:
    """The rules a reading meets when it is entered, for one arriving in an import:
    a 9999-12-31 reading would make every dashboard of the household fail."""

    def rules() -> None:
        if "read_at" in values:
            check_reading_time(values["read_at"], datetime.now(UTC))
        if values.get("meter_wh", 0) < 0:
            raise RuleViolation("meter_kwh", "must not be negative")
        check_text("note", values.get("note") or "")

    imported_row_problem(rules)


def check_imported_voucher(values: Mapping[str, Any]) -> None:
    """:func:`check_voucher` for a voucher arriving in an import (absent fields: defaults)."""
    imported_row_problem(
        lambda: check_voucher(
            purchased_on=values.get("purchased_on") or EARLIEST,
            amount_minor=values.get("amount_minor", 0),
            energy_wh=values.get("energy_wh", 0),
            currency=values.get("currency") or "ZAR",
            token_number=values.get("token_number") or "",
            today=datetime.now(UTC).date(),
            vendor=values.get("vendor") or "",
            notes=values.get("notes") or "",
        )
    )
