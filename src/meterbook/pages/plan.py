"""The household page's "Plan & usage" section: usage bars against limits, alerts, features."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from meterbook.plans import CSV_IMPORT, LONG_RANGE_INSIGHTS
from tenantry import plans
from tenantry.context import TenantContext
from tenantry.plans import Gauge, PlanChangeRefused
from tenantry.web import DbSession, get_tenancy

LABELS = {
    plans.MEMBERS: "Members",
    "rows.readings": "Readings",
    "rows.vouchers": "Vouchers",
    plans.REQUESTS_PER_MONTH: "API requests this month",
    plans.EXPORT_BYTES_PER_MONTH: "Exported this month",
    plans.STORAGE_BYTES: "Storage (estimate)",
}
BYTES = {plans.EXPORT_BYTES_PER_MONTH, plans.STORAGE_BYTES}
FEATURES = {CSV_IMPORT: "CSV import", LONG_RANGE_INSIGHTS: "Insights beyond one year"}


def _amount(limit: str, value: int | None) -> str:
    if value is None:
        return "unlimited"
    if limit not in BYTES:
        return f"{value:,}".replace(",", "\u2009")
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value} B"


@dataclass(frozen=True, slots=True)
class GaugeView:
    limit: str
    label: str
    used: int
    allowed: int | None
    state: str
    text: str

    @classmethod
    def of(cls, gauge: Gauge) -> GaugeView:
        text = f"{_amount(gauge.limit, gauge.used)} of {_amount(gauge.limit, gauge.allowed)}"
        label = LABELS.get(gauge.limit, gauge.limit)
        return cls(gauge.limit, label, gauge.used, gauge.allowed, gauge.state, text)

    @property
    def banner(self) -> str:
        if self.state == "warning":
            return f"{self.label}: {self.text} used, over 80 % of the plan's limit."
        if self.state == "full":
            return f"{self.label}: the plan's limit is reached ({self.text}). Upgrade to add more."
        return f"{self.label}: {self.text}, over the plan's limit. Remove some or upgrade."


def plan_section(
    request: Request, session: DbSession, ctx: TenantContext, *, error: PlanChangeRefused | None
) -> dict[str, Any]:
    """The template values of the section (``plan`` in household.html)."""
    tenancy = get_tenancy(request)
    report = plans.usage_report(
        session, ctx.tenant_id, catalogue=tenancy.catalogue, meter=tenancy.meter
    )
    gauges = [GaugeView.of(g) for g in report.gauges]
    ents = report.entitlements
    return {
        "report": report,
        "current": ents.plan,
        "gauges": gauges,
        "alerts": [g for g in gauges if g.state != "ok"],
        "features": [(label, ents.has(flag)) for flag, label in FEATURES.items()],
        "catalogue": tenancy.catalogue.plans,
        "error": error,
        "labels": LABELS,
        # With billing on, plans are bought through Checkout (the billing section).
        "billed": tenancy.billing is not None,
    }
