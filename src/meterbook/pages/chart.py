"""A monthly consumption-and-spend chart as plain SVG geometry, drawn by the template."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from meterbook.services.insights import Month

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 56, 16, 36


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    kwh: float
    spent: float


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    left: str
    right: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    line: str
    dots: list[tuple[float, float]]
    ticks: list[Tick]
    baseline: float
    has_data: bool


def _nice(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return 10.0 * magnitude


def build(months: Sequence[Month]) -> Chart:
    """Bars of kWh used per month (left axis) and a line of money spent (right axis)."""
    kwh = [m.consumed_wh / 1000 for m in months]
    spent = [m.spent_minor / 100 for m in months]
    top_kwh, top_spent = _nice(max(kwh, default=0)), _nice(max(spent, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(months), 1)
    bars, dots = [], []
    for i, month in enumerate(months):
        h = plot_h * kwh[i] / top_kwh
        x = LEFT + i * slot
        bars.append(
            Bar(x + slot * 0.15, TOP + plot_h - h, slot * 0.7, h, month.label, kwh[i], spent[i])
        )
        dots.append((x + slot / 2, TOP + plot_h - plot_h * spent[i] / top_spent))
    ticks = [
        Tick(TOP + plot_h - plot_h * f, f"{top_kwh * f:g}", f"{top_spent * f:g}")
        for f in (0, 0.25, 0.5, 0.75, 1)
    ]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        line=" ".join(f"{x:.1f},{y:.1f}" for x, y in dots),
        dots=dots,
        ticks=ticks,
        baseline=TOP + plot_h,
        has_data=any(kwh) or any(spent),
    )
