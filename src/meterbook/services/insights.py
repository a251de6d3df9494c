"""The dashboard's figures, aggregated in SQL for the current household."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import extract, func, select
from sqlalchemy.orm import Session

from meterbook.domain.insights import (
    balance_wh,
    daily_average_wh,
    days_of_credit,
    months_back,
    price_per_kwh,
    whole_wh,
)
from meterbook.models import Voucher
from meterbook.services.common import day_after, day_start, utcnow
from meterbook.services.intervals import measured, overlap_seconds, used_within
from meterbook.services.readings import with_consumption

DEFAULT_DAYS = 30


@dataclass(frozen=True, slots=True)
class Month:
    """One calendar month (UTC): energy used, and per currency what was spent and bought."""

    year: int
    month: int
    consumed_wh: int = 0
    spent_minor: int = 0  # in the household's main currency (``Dashboard.currency``)
    bought_wh: int = 0  # every voucher's, whatever its currency
    vouchers: int = 0
    spend: tuple[tuple[str, int], ...] = ()  # (currency, minor units) of every currency spent

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True, slots=True)
class Spend:
    currency: str
    amount_minor: int
    energy_wh: int
    vouchers: int

    @property
    def price_per_kwh(self) -> Decimal | None:
        return price_per_kwh(self.amount_minor, self.energy_wh)


@dataclass(frozen=True, slots=True)
class Dashboard:
    """The figures for ``start``..``end`` (whole UTC days) and the household's totals.

    ``period_consumed_wh`` is the part of each interval between readings that falls in
    the period (pro rata by time); ``period_days_covered`` the days of the period those
    intervals cover; ``daily_average_wh`` the one over the other. An interval ending at a
    meter replacement has no known use and counts in neither (``services/intervals.py``).
    """

    start: date
    end: date
    period_consumed_wh: int
    period_days_covered: Decimal
    daily_average_wh: Decimal | None
    total_bought_wh: int
    total_consumed_wh: int
    balance_wh: int
    days_left: Decimal | None
    currency: str | None
    spend: list[Spend] = field(default_factory=list)
    months: list[Month] = field(default_factory=list)
    readings: int = 0
    last_reading_at: datetime | None = None
    last_meter_wh: int | None = None

    @property
    def price_per_kwh(self) -> Decimal | None:
        main = next((s for s in self.spend if s.currency == self.currency), None)
        return main.price_per_kwh if main else None


def _months(session: Session, since: date, currency: str | None) -> list[Month]:
    """Consumption and purchases per month since ``since``: every voucher's kWh, and what
    was spent in ``currency`` (the household's main one) and in each other.

    A month's consumption is by the closing reading's month, not pro rata as a period's:
    splitting every interval across 12 months in SQL cost ~2.5x this query.
    """
    r = with_consumption().subquery("r")
    ry, rm = extract("year", r.c.read_at), extract("month", r.c.read_at)
    used = session.execute(
        select(ry, rm, func.coalesce(func.sum(r.c.consumed_wh), 0))
        .where(r.c.read_at >= day_start(since))
        .group_by(ry, rm)
    ).all()
    vy, vm = extract("year", Voucher.purchased_on), extract("month", Voucher.purchased_on)
    bought = session.execute(
        select(
            vy,
            vm,
            Voucher.currency,
            func.sum(Voucher.amount_minor),
            func.sum(Voucher.energy_wh),
            func.count(),
        )
        .where(Voucher.purchased_on >= since)
        .group_by(vy, vm, Voucher.currency)
        .order_by(vy, vm, Voucher.currency)
    ).all()
    months: dict[tuple[int, int], Month] = {}
    # Every month of the window appears, even with no data: charts need a steady axis.
    cursor = since.replace(day=1)
    today = utcnow().date()
    while cursor <= today:
        months[(cursor.year, cursor.month)] = Month(cursor.year, cursor.month)
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    for y, m, wh in used:
        key = (int(y), int(m))
        old = months.get(key, Month(*key))
        months[key] = Month(key[0], key[1], int(wh), old.spent_minor, old.bought_wh, old.vouchers)
    for y, m, cur, amount, energy, count in bought:
        key = (int(y), int(m))
        old = months.get(key, Month(*key))
        months[key] = Month(
            key[0],
            key[1],
            old.consumed_wh,
            old.spent_minor + (int(amount) if cur == currency else 0),
            old.bought_wh + int(energy),  # kWh are kWh in any currency
            old.vouchers + int(count),
            (*old.spend, (cur, int(amount))),
        )
    return [months[k] for k in sorted(months)]


def _period_use(session: Session, start: datetime, end: datetime) -> tuple[int, float]:
    """Wh used within ``start`` ≤ t < ``end`` and the seconds of it that readings measure.

    Each interval between two readings adds the part of it that overlaps the period,
    pro rata by time; only the intervals that overlap it are summed.
    """
    iv = measured()
    used, seconds = session.execute(
        select(
            func.coalesce(func.sum(used_within(iv, start, end)), 0),
            func.coalesce(func.sum(overlap_seconds(iv, start, end)), 0),
        ).where(iv.c.t0 < end.timestamp(), iv.c.t1 > start.timestamp())
    ).one()
    return whole_wh(used), float(seconds)


def dashboard_period(start: date | None, end: date | None) -> tuple[date, date]:
    """The days a dashboard covers: ``end`` defaults to today, ``start`` to 30 days before it.

    Worked out before the plan's history is checked: a period given only its end reaches
    back as far as one given both.
    """
    end = end or utcnow().date()
    return start or end - timedelta(days=DEFAULT_DAYS - 1), end


def dashboard(
    session: Session, start: date | None = None, end: date | None = None, months: int = 12
) -> Dashboard:
    """Every figure of the dashboard for ``start``..``end`` (inclusive; default: last 30 days).

    ``months`` calendar months (UTC) end with the current one, so far: 12 reach back to
    the first of the month 11 months ago, within the Free plan's year of history.
    """
    today = utcnow().date()
    start, end = dashboard_period(start, end)
    consumed, seconds = _period_use(session, day_start(start), day_after(end))
    r = with_consumption().subquery("r")
    totals = session.execute(
        select(func.coalesce(func.sum(r.c.consumed_wh), 0), func.count(), func.max(r.c.read_at))
    ).one()
    last_meter = session.scalar(
        select(r.c.meter_wh).order_by(r.c.read_at.desc(), r.c.id.desc()).limit(1)
    )
    spend = [
        Spend(cur, int(a), int(e), int(n))
        for cur, a, e, n in session.execute(
            select(
                Voucher.currency,
                func.sum(Voucher.amount_minor),
                func.sum(Voucher.energy_wh),
                func.count(),
            )
            .group_by(Voucher.currency)
            .order_by(func.count().desc(), Voucher.currency)
        )
    ]
    bought = sum(s.energy_wh for s in spend)
    average = daily_average_wh(consumed, seconds)
    balance = balance_wh(bought, int(totals[0]))
    currency = spend[0].currency if spend else None
    # This month so far is one of the ``months``: the chart ends with the current month.
    since = months_back(today, months - 1)
    return Dashboard(
        start=start,
        end=end,
        period_consumed_wh=consumed,
        period_days_covered=(Decimal(str(seconds)) / 86_400).quantize(Decimal("0.1")),
        daily_average_wh=average,
        total_bought_wh=bought,
        total_consumed_wh=int(totals[0]),
        balance_wh=balance,
        days_left=days_of_credit(balance, average),
        currency=currency,
        spend=spend,
        months=_months(session, since, currency),
        readings=int(totals[1]),
        last_reading_at=totals[2],
        last_meter_wh=last_meter,
    )
