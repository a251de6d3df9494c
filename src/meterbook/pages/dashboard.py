"""The dashboard page: the insights and the consumption-and-spend chart."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from meterbook.pages.chart import build
from meterbook.pages.csrf import check_csrf
from meterbook.pages.deps import NavDep
from meterbook.pages.render import render
from meterbook.services.history import history_floor
from meterbook.services.insights import dashboard, dashboard_period
from tenantry.web import DbSession, ViewerContext

router = APIRouter(
    dependencies=[Depends(check_csrf)], tags=["meterbook pages"], include_in_schema=False
)


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/dashboard")
def dashboard_page(
    request: Request,
    ctx: ViewerContext,
    nav: NavDep,
    session: DbSession,
    start: str = "",
    end: str = "",
) -> Response:
    """Figures for a period (default: the last 30 days) and the last 12 months' chart.

    A start after the end (given, or today by default) is refused as the API refuses it
    (422 there): the page shows the default period up to the end and says why, as it
    says why a period is clamped to the plan's history, and which date it could not read.
    """
    asked = _date(start)
    unreadable = [text[:40] for text in (start, end) if text and _date(text) is None]
    first, last = dashboard_period(asked, _date(end))
    inverted = first > last
    if inverted:
        first, last = dashboard_period(None, last)
    floor = history_floor(session, ctx.tenant_id)
    clamped = floor is not None and first < floor
    if floor is not None and clamped:
        first, last = floor, max(last, floor)
    figures = dashboard(session, first, last)
    return render(
        request,
        "dashboard.html",
        nav=nav,
        d=figures,
        chart=build(figures.months),
        history_floor=floor if clamped else None,
        inverted_start=asked if inverted else None,
        unreadable_dates=unreadable,
        active="dashboard",
    )
