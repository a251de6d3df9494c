"""Measured intervals between consecutive readings, and the share of each in a period, in SQL.

Two readings tell how much the meter ran between them, not when: the insights spread
an interval's use evenly over it (linear between readings), so a period gets the part
of each interval that overlaps it, pro rata by time. Times are seconds since the epoch
(UTC) so the overlap is plain arithmetic on every backend.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, Subquery, and_, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from meterbook.models import Reading


class EpochSeconds(FunctionElement[float]):
    """Seconds since 1970-01-01 UTC of a stored datetime."""

    type = Float()
    name = "epoch_seconds"
    inherit_cache = True


@compiles(EpochSeconds)
def _epoch_postgresql(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"


@compiles(EpochSeconds, "sqlite")
def _epoch_sqlite(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite stores naive UTC text; julianday() reads it, 2440587.5 is 1970-01-01.
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


def measured() -> Subquery:
    """Each interval between consecutive readings whose use is known: ``t0``, ``t1``, ``used_wh``.

    An interval ending at a replacement reading is left out: the old meter's last value
    was not read, so its use is unknown, and counting its days as days of no use would
    pull the daily average (and the days of credit left) down. Scoping filters the inner
    query, so the window sees only this tenant's readings.
    """
    order = (Reading.read_at, Reading.id)
    at = EpochSeconds(Reading.read_at)
    inner = select(
        func.lag(at).over(order_by=order).label("t0"),
        at.label("t1"),
        (Reading.meter_wh - func.lag(Reading.meter_wh).over(order_by=order)).label("used_wh"),
        Reading.is_replacement,
    ).subquery("readings_in_order")
    return (
        select(inner.c.t0, inner.c.t1, inner.c.used_wh)
        .where(inner.c.t0.is_not(None), inner.c.t1 > inner.c.t0, ~inner.c.is_replacement)
        .subquery("measured")
    )


def overlap_seconds(iv: Subquery, start: datetime, end: datetime) -> ColumnElement[float]:
    """Seconds of each interval of ``iv`` (:func:`measured`) within ``start`` ≤ t < ``end``."""
    s, e = start.timestamp(), end.timestamp()
    lo = case((iv.c.t0 > s, iv.c.t0), else_=s)
    hi = case((iv.c.t1 < e, iv.c.t1), else_=e)
    return case((and_(iv.c.t0 < e, iv.c.t1 > s), hi - lo), else_=0.0)


def used_within(iv: Subquery, start: datetime, end: datetime) -> ColumnElement[Any]:
    """Wh of each interval of ``iv`` used within ``start`` ≤ t < ``end``, pro rata by time."""
    return iv.c.used_wh * overlap_seconds(iv, start, end) / (iv.c.t1 - iv.c.t0)
