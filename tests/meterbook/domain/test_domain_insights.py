"""The insight arithmetic on aggregates, without a database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from meterbook.domain.insights import (
    balance_wh,
    daily_average_wh,
    days_of_credit,
    months_back,
    price_per_kwh,
    whole_wh,
)


def test_daily_average() -> None:
    assert daily_average_wh(30_000, 3 * 86_400) == Decimal(10_000)
    assert daily_average_wh(10_000, 0) is None


def test_price_per_kwh() -> None:
    assert price_per_kwh(50_000, 172_500) == Decimal("2.8986")
    assert price_per_kwh(100, 0) is None


def test_days_of_credit() -> None:
    assert balance_wh(172_500, 12_500) == 160_000
    assert days_of_credit(160_000, Decimal(10_000)) == Decimal("16.0")
    assert days_of_credit(-5, Decimal(10_000)) == Decimal("0.0")
    assert days_of_credit(1000, None) is None


def test_a_share_is_rounded_half_up_to_whole_wh() -> None:
    assert whole_wh(4999.5) == 5000
    assert whole_wh(4999.49) == 4999
    assert whole_wh(Decimal(0)) == 0


def test_months_back_counts_calendar_months() -> None:
    assert months_back(date(2026, 12, 5), 11) == date(2026, 1, 1)
    assert months_back(date(2026, 3, 31), 11) == date(2025, 4, 1)
    assert months_back(date(2026, 1, 1), 0) == date(2026, 1, 1)
    assert months_back(date(2026, 1, 1), 1) == date(2025, 12, 1)
