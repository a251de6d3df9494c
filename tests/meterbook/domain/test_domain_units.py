from __future__ import annotations

from decimal import Decimal

import pytest

from meterbook.domain import (
    RuleViolation,
    kwh_text,
    kwh_to_wh,
    minor_to_money,
    money_to_minor,
    wh_to_kwh,
)
from meterbook.domain.units import parse_decimal


def test_kwh_round_trips_exactly() -> None:
    assert kwh_to_wh(Decimal("48213.457")) == 48_213_457
    assert wh_to_kwh(48_213_457) == Decimal("48213.457")
    assert str(wh_to_kwh(5)) == "0.005"


def test_money_round_trips_exactly() -> None:
    assert money_to_minor(Decimal("0.10")) + money_to_minor(Decimal("0.20")) == 30
    assert str(minor_to_money(30)) == "0.30"


@pytest.mark.parametrize(
    ("wh", "kwh", "minor", "money"),
    [(0, "0.000", 0, "0.00"), (1000, "1.000", 500, "5.00"), (-1500, "-1.500", -7, "-0.07")],
)
def test_stored_integers_show_every_place(wh: int, kwh: str, minor: int, money: str) -> None:
    # Consumption can be negative (a replaced meter); round values keep their places.
    assert str(wh_to_kwh(wh)) == kwh
    assert kwh_text(wh) == kwh
    assert str(minor_to_money(minor)) == money
    assert str(wh_to_kwh(9_999_999_999_999)) == "9999999999.999"


def test_kwh_text_is_the_decimals_text() -> None:
    # The API's fast path must write exactly what str(Decimal) wrote before it.
    for wh in [*range(-2100, 2100, 7), 999, 1000, 1001, -999, -1000, 10**15 + 1, -(10**15) - 1]:
        assert kwh_text(wh) == str(wh_to_kwh(wh)), wh


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1", "must not be negative"),
        ("1.0001", "at most 3 decimal places"),
        # JSON numbers arrive as Decimals with exponents (text with one is refused below).
        (Decimal("1e20"), "too large"),
        # Beyond the decimal context: must not raise decimal.Overflow or underflow to 0.
        (Decimal("1e999999"), "too large"),
        (Decimal("1e-999999"), "at most 3 decimal places"),
    ],
)
def test_kwh_refuses(text: str | Decimal, message: str) -> None:
    with pytest.raises(RuleViolation, match=message) as info:
        kwh_to_wh(parse_decimal(text, "kwh"))
    assert info.value.field == "kwh"


def test_money_refuses_fractions_of_a_cent() -> None:
    with pytest.raises(RuleViolation, match="2 decimal places"):
        money_to_minor(Decimal("1.005"))


def test_parse_decimal_accepts_a_comma_and_refuses_words() -> None:
    assert parse_decimal("1 234,5", "x") == Decimal("1234.5")
    assert parse_decimal(" 12\u00a0345\u202f678.25 ", "x") == Decimal("12345678.25")
    assert parse_decimal("-1 000", "x") == Decimal("-1000")
    # A space that separates no thousands was a typo made into another number (16950).
    for bad in ("abc", "NaN", "inf", "16 9 50", "48213 4", "1 2 3", "12 34,5", "1 000 00"):
        with pytest.raises(RuleViolation, match=r"use a decimal such as 1234\.567"):
            parse_decimal(bad, "x")
    # What Decimal reads but a person did not mean (a spreadsheet's 6E+4 is 60,000 kWh).
    for bad in ("6e4", "6.0001E4", "1_000", "\uff11\uff12", "+5", "0x10"):
        with pytest.raises(RuleViolation, match=r"use a decimal such as 1234\.567"):
            parse_decimal(bad, "x")
