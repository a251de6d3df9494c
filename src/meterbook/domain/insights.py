"""Insight arithmetic on aggregates: consumption, averages, prices and credit left.

The database sums the rows; these functions turn the sums into answers and
hold the definitions in one place (also a reference for the SQL's tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise

from meterbook.domain.validation import MeterPoint

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True, slots=True)
class Interval:
    """Energy used between two consecutive readings."""

    start: datetime
    end: datetime
    consumed_wh: int


def intervals(points: Sequence[MeterPoint]) -> list[Interval]:
    """Consumption between consecutive readings; across a meter replacement it is unknown: 0."""
    ordered = sorted(points, key=lambda p: p.read_at)
    return [
        Interval(a.read_at, b.read_at, 0 if b.is_replacement else b.meter_wh - a.meter_wh)
        for a, b in pairwise(ordered)
    ]


def daily_average_wh(consumed_wh: int, seconds: float) -> Decimal | None:
    """Average Wh per day over ``seconds`` covered by readings; ``None`` without a span."""
    if seconds <= 0:
        return None
    per_day = Decimal(consumed_wh) * SECONDS_PER_DAY / Decimal(str(seconds))
    return per_day.quantize(Decimal("1"), rounding=ROUND_HALF_UP)


def price_per_kwh(amount_minor: int, energy_wh: int) -> Decimal | None:
    """Money per kWh (4 places) for ``amount_minor`` paid for ``energy_wh``."""
    if energy_wh <= 0:
        return None
    price = Decimal(amount_minor) * 1000 / (Decimal(energy_wh) * 100)
    return price.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def balance_wh(bought_wh: int, consumed_wh: int) -> int:
    """Credit left: every kWh bought minus every kWh the readings show as used."""
    return bought_wh - consumed_wh


def days_of_credit(balance: int, daily_wh: Decimal | None) -> Decimal | None:
    """Days the balance lasts at the daily average; 0 when it is used up, ``None`` if unknown."""
    if balance <= 0:
        return Decimal("0.0")
    if daily_wh is None or daily_wh <= 0:
        return None
    return (Decimal(balance) / daily_wh).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
