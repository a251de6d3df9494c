"""Bodies of the plan API: the catalogue, a tenant's plan and use, plan changes, overrides."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field, StrictInt

from tenantry.plans import Catalogue, Plan, UsageReport
from tenantry.plans.catalogue import MAX_LIMIT
from tenantry.web.schemas import Input


class PlanOut(BaseModel):
    name: str
    display_name: str
    limits: dict[str, int | None]
    features: list[str]
    trial_days: int

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        return cls(
            name=plan.name,
            display_name=plan.display_name,
            limits=dict(plan.limits),
            features=sorted(plan.features),
            trial_days=plan.trial_days,
        )


class CatalogueOut(BaseModel):
    default: str
    plans: list[PlanOut]

    @classmethod
    def of(cls, catalogue: Catalogue) -> CatalogueOut:
        return cls(default=catalogue.default, plans=[PlanOut.of(p) for p in catalogue.plans])


class PeriodOut(BaseModel):
    start: date
    end: date


class GaugeOut(BaseModel):
    limit: str
    used: int
    allowed: int | None
    percent: float | None
    state: str


class StorageOut(BaseModel):
    table: str
    rows: int
    bytes: int


class TenantPlanOut(BaseModel):
    """``GET /api/tenant/plan``: plan, effective limits and features, use, period."""

    plan: PlanOut
    trial_ends_at: datetime | None
    limits: dict[str, int | None]
    features: list[str]
    overrides: dict[str, int | None]
    period: PeriodOut
    usage: dict[str, int]
    storage: list[StorageOut]
    gauges: list[GaugeOut]
    alerts: list[GaugeOut]

    @classmethod
    def of(cls, report: UsageReport) -> TenantPlanOut:
        ents = report.entitlements
        gauges = [
            GaugeOut(
                limit=g.limit, used=g.used, allowed=g.allowed, percent=g.percent, state=g.state
            )
            for g in report.gauges
        ]
        usage = {g.limit: g.used for g in report.gauges}
        usage.update(report.metered)
        return cls(
            plan=PlanOut.of(ents.plan),
            trial_ends_at=ents.trial_ends_at,
            limits=dict(ents.limits),
            features=sorted(ents.features),
            overrides=dict(ents.overrides),
            period=PeriodOut(start=report.period_start, end=report.period_end),
            usage=usage,
            storage=[StorageOut(table=t.table, rows=t.rows, bytes=t.bytes) for t in report.storage],
            gauges=gauges,
            alerts=[g for g in gauges if g.state != "ok"],
        )


class PlanChangeIn(Input):
    plan: str = Field(min_length=1, max_length=32)


class OverrideIn(Input):
    """A limit's allowance (``null`` = unlimited) or, for ``feature:<flag>``, 1 or 0."""

    # Strict: ``true`` is not 1 (a flag sent where a number was meant is a mistake).
    value: StrictInt | None = Field(ge=0, le=MAX_LIMIT)
    note: str = Field(default="", max_length=200)
