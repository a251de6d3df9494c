from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from meterbook.domain.insights import (
    balance_wh,
    daily_average_wh,
    days_of_credit,
    intervals,
    price_per_kwh,
)
from meterbook.domain.validation import MeterPoint

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_intervals_count_nothing_across_a_replacement() -> None:
    points = [
        MeterPoint(T0 + timedelta(days=2), 1200),
        MeterPoint(T0, 1000),
        MeterPoint(T0 + timedelta(days=3), 50, is_replacement=True),
        MeterPoint(T0 + timedelta(days=4), 80),
    ]
    assert [i.consumed_wh for i in intervals(points)] == [200, 0, 30]


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
