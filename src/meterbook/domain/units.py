"""Exact conversions between the decimals people type and the integers stored.

Energy is stored in Wh (kWh with three decimals), money in minor units (two
decimals). Floats never take part: a value with more places is refused, not rounded.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from meterbook.domain.errors import RuleViolation

WH_PER_KWH = 1000
MINOR_PER_UNIT = 100
# Well within 2**63 and JavaScript's 2**53: no overflow in SQL sums or JSON clients.
MAX_WH = 10**13 - 1  # 9 999 999 999.999 kWh: ten integer digits
MAX_MINOR = 10**13 - 1  # 99 999 999 999.99: eleven


# Digits in groups of three after the first, as people separate thousands: with a space,
# a no-break space or a narrow one (what a French or South African keyboard types).
_GROUPED = re.compile(r"(-?)([0-9]{1,3}(?:[ \u00a0\u202f][0-9]{3})+)([.,][0-9]+)?")


_PLAIN = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def decimal_text(text: str) -> str:
    """A number as people type it (``48 213,4``: thousands apart, ``,`` as the decimal mark)
    in the plain form the API reads (``48213.4``). A space anywhere else (``16 9 50``, a
    decimal mark left out of ``48213 4``) stays, for the parser to refuse: dropped, it
    would make another number."""
    text = text.strip()
    grouped = _GROUPED.fullmatch(text)
    if grouped:
        sign, digits, fraction = grouped.groups()
        text = sign + re.sub(r"\D", "", digits) + (fraction or "")
    return text.replace(",", ".")


def parse_decimal(text: str | Decimal, field: str, example: str = "1234.567") -> Decimal:
    """A finite decimal from ``text`` (``,`` accepted as the decimal mark), or a violation
    in the API's and the forms' words (``use a decimal such as 1234.567``)."""
    if isinstance(text, Decimal):
        value = text
    else:
        # Only digits and one decimal mark: Decimal also reads "6e4", "1_000" and other
        # scripts' digits, which a spreadsheet cell would bring in silently as other numbers.
        cleaned = decimal_text(text).strip()
        if not _PLAIN.fullmatch(cleaned):
            raise RuleViolation(field, f"use a decimal such as {example}")
        try:
            value = Decimal(cleaned)
        except InvalidOperation:
            raise RuleViolation(field, f"use a decimal such as {example}") from None
    if not value.is_finite():
        raise RuleViolation(field, f"use a decimal such as {example}")
    return value


def _scaled(value: Decimal, factor: int, places: int, field: str, limit: int) -> int:
    if value < 0:
        raise RuleViolation(field, "must not be negative")
    # Compare before multiplying: "1e999999" * 1000 overflows the decimal context,
    # and "1e-999999" * 1000 underflows to a silent 0.
    largest = Decimal(limit).scaleb(-places)
    if value > largest:
        raise RuleViolation(field, f"is too large (at most {largest})")
    if value and value.adjusted() < -places:
        raise RuleViolation(field, f"use at most {places} decimal places")
    scaled = value * factor
    if scaled != scaled.to_integral_value():
        raise RuleViolation(field, f"use at most {places} decimal places")
    if scaled > limit:
        raise RuleViolation(field, f"is too large (at most {largest})")
    return int(scaled)


def kwh_to_wh(kwh: Decimal, field: str = "kwh") -> int:
    """kWh (up to 3 places, not negative) to integer Wh."""
    return _scaled(kwh, WH_PER_KWH, 3, field, MAX_WH)


def money_to_minor(amount: Decimal, field: str = "amount") -> int:
    """An amount (up to 2 places, not negative) to integer minor units."""
    return _scaled(amount, MINOR_PER_UNIT, 2, field, MAX_MINOR)


def wh_to_kwh(wh: int) -> Decimal:
    """Integer Wh to kWh with exactly three places (exact: only the exponent moves)."""
    return Decimal(wh).scaleb(-3)


def kwh_text(wh: int) -> str:
    """``str(wh_to_kwh(wh))`` without making a Decimal: how kWh is written as text (the
    API, CSV exports, forms); a page of fifty readings spent ~5 % of its CPU on the
    Decimals. ``wh_to_kwh`` is for arithmetic."""
    whole, part = divmod(abs(wh), WH_PER_KWH)
    return f"{'-' if wh < 0 else ''}{whole}.{part:03d}"


def minor_to_money(minor: int) -> Decimal:
    """Integer minor units to an amount with exactly two places (exact, as above)."""
    return Decimal(minor).scaleb(-2)
