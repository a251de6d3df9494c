from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from meterbook.domain import RuleViolation
from meterbook.domain.validation import (
    MeterPoint,
    check_order,
    check_reading_time,
    check_voucher,
    sequence_errors,
)

T0 = datetime(2025, 3, 1, 7, 0, tzinfo=UTC)


def at(days: int) -> datetime:
    return T0 + timedelta(days=days)


def test_future_readings_are_refused_but_clock_skew_is_tolerated() -> None:
    check_reading_time(T0 + timedelta(minutes=4), now=T0)
    with pytest.raises(RuleViolation, match="future") as info:
        check_reading_time(T0 + timedelta(hours=1), now=T0)
    assert info.value.field == "read_at"


def test_naive_times_are_refused() -> None:
    with pytest.raises(RuleViolation, match="time zone"):
        check_reading_time(datetime(2025, 1, 1), now=T0)


def test_lower_than_previous_needs_a_replacement() -> None:
    before = MeterPoint(at(0), 1000)
    with pytest.raises(RuleViolation, match="lower than the previous") as info:
        check_order(before, MeterPoint(at(1), 999), None)
    assert info.value.field == "meter_kwh"
    check_order(before, MeterPoint(at(1), 5, is_replacement=True), None)


def test_a_reading_between_two_must_not_exceed_the_next() -> None:
    with pytest.raises(RuleViolation, match="higher than the next"):
        check_order(MeterPoint(at(0), 100), MeterPoint(at(1), 300), MeterPoint(at(2), 200))
    check_order(MeterPoint(at(0), 100), MeterPoint(at(1), 150), MeterPoint(at(2), 200))


def test_same_time_is_refused() -> None:
    with pytest.raises(RuleViolation, match="exactly this time"):
        check_order(MeterPoint(at(0), 100), MeterPoint(at(0), 100), None)


def test_sequence_errors_blame_new_rows_only() -> None:
    stored = [MeterPoint(at(0), 100), MeterPoint(at(5), 500)]
    new = [
        MeterPoint(at(1), 90, ref=2),  # lower than stored 100
        MeterPoint(at(2), 200, ref=3),
        MeterPoint(at(3), 600, ref=4),  # higher than stored 500 after it
        MeterPoint(at(6), 10, is_replacement=True, ref=5),
    ]
    errors = sequence_errors([*stored, *new])
    assert [(ref, e.field) for ref, e in errors] == [(2, "meter_kwh"), (4, "meter_kwh")]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount_minor": -1}, "amount"),
        ({"energy_wh": -1}, "kwh"),
        ({"currency": "rand"}, "currency"),
        ({"currency": "ABC"}, "currency"),
        ({"purchased_on": date(2025, 3, 5)}, "purchased_on"),
        ({"token_number": "12;DROP"}, "token_number"),
    ],
)
def test_voucher_rules(changes: dict[str, object], field: str) -> None:
    values: dict[str, object] = {
        "purchased_on": date(2025, 3, 1),
        "amount_minor": 50_000,
        "energy_wh": 170_000,
        "currency": "ZAR",
        "token_number": "1234 5678",
        "today": date(2025, 3, 1),
    }
    check_voucher(**values)  # type: ignore[arg-type]
    with pytest.raises(RuleViolation) as info:
        check_voucher(**{**values, **changes})  # type: ignore[arg-type]
    assert info.value.field == field


def test_free_vouchers_are_allowed() -> None:
    today = date(2025, 3, 1)
    check_voucher(
        purchased_on=today,
        amount_minor=0,
        energy_wh=50_000,
        currency="ZAR",
        token_number="",
        today=today,
    )
