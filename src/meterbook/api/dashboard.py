"""``/api/dashboard``: the household's insights for a period."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response

from meterbook.api.listing import FromParam, ToParam, date_range
from meterbook.api.outputs import DashboardOut
from meterbook.api.responses import Json
from meterbook.domain import kwh_text, minor_to_money
from meterbook.services.history import check_range
from meterbook.services.insights import Dashboard, dashboard, dashboard_period
from tenantry.web import DbSession, ViewerContext, get_tenancy

router = APIRouter(prefix="/api", tags=["meterbook"])


def _kwh(wh: int | None) -> Any:
    return None if wh is None else kwh_text(wh)


def dashboard_out(d: Dashboard) -> dict[str, Any]:
    return {
        "period": {"from": d.start, "to": d.end, "days_covered": d.period_days_covered},
        "consumed_kwh": _kwh(d.period_consumed_wh),
        "daily_average_kwh": None
        if d.daily_average_wh is None
        else kwh_text(int(d.daily_average_wh)),
        "total_bought_kwh": _kwh(d.total_bought_wh),
        "total_consumed_kwh": _kwh(d.total_consumed_wh),
        "balance_kwh": _kwh(d.balance_wh),
        "days_left": d.days_left,
        "currency": d.currency,
        "price_per_kwh": d.price_per_kwh,
        "readings": d.readings,
        "last_reading_at": d.last_reading_at,
        "last_meter_kwh": _kwh(d.last_meter_wh),
        "spend": [
            {
                "currency": s.currency,
                "amount": minor_to_money(s.amount_minor),
                "kwh": kwh_text(s.energy_wh),
                "vouchers": s.vouchers,
                "price_per_kwh": s.price_per_kwh,
            }
            for s in d.spend
        ],
        "months": [
            {
                "month": m.label,
                "consumed_kwh": kwh_text(m.consumed_wh),
                "spent": minor_to_money(m.spent_minor),
                "spend": {cur: minor_to_money(amount) for cur, amount in m.spend},
                "bought_kwh": kwh_text(m.bought_wh),
                "vouchers": m.vouchers,
            }
            for m in d.months
        ],
    }


# Entries are dropped the moment a reading or voucher of the household is written
# (see MeterbookPlugin.install); the TTL only bounds "today"-relative figures.
DASHBOARD_TTL = 300
DASHBOARD_TAGS = ("readings", "vouchers")


@router.get("/dashboard", response_class=Json, response_model=DashboardOut)
def get_dashboard(
    ctx: ViewerContext,
    session: DbSession,
    request: Request,
    start: FromParam = None,
    end: ToParam = None,
) -> Response:
    """Consumption, daily average, spend and kWh per month, price per kWh, days of credit left.

    A period reaching further back than the plan's history needs long-range insights (402).
    Cached per household until one of its readings or vouchers changes.
    """
    first, last = dashboard_period(*date_range(start, end))
    check_range(session, ctx.tenant_id, first)
    body = get_tenancy(request).cache.get_or_set(
        f"dashboard:{first}:{last}:{date.today()}",
        lambda: Json(dashboard_out(dashboard(session, first, last))).body,
        DASHBOARD_TTL,
        tags=DASHBOARD_TAGS,
    )
    return Response(body, media_type="application/json")
