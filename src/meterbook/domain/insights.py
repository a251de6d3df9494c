"""Insight arithmetic on aggregates: consumption, averages, prices and credit left.

The database sums the rows; these functions turn the sums into answers and
hold the definitions in one place. Consumption itself is computed in SQL
(``services/readings.py``, and per period ``services/intervals.py``).

Use in a period: two readings tell what the meter ran between them, not when, so an
interval's use is spread evenly over it (linear between readings) and a period gets
the part of each interval that overlaps it, pro rata by time. The period's days
covered are the time those intervals overlap it, and the daily average is the one
over the other. An interval ending at a meter replacement has no known use: it counts
in neither, rather than as days of no use.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

SECONDS_PER_DAY = 86_400


def whole_wh(share: float | Decimal) -> int:
    """A pro-rata share of Wh rounded half up to whole Wh, the unit figures are kept in."""
    return int(Decimal(str(share)).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


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


def months_back(day: date, months: int) -> date:
    """The first day of the month ``months`` calendar months before ``day``'s month."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)
