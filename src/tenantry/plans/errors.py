"""The refusals of plans: a quota reached, a feature the plan lacks, a downgrade over use."""

from __future__ import annotations

from typing import Any

from tenantry.errors import TenantryError


class QuotaExceeded(TenantryError):
    """An action would take the tenant past a limit of its plan; nothing was written."""

    code = "quota_exceeded"
    status = 402

    def __init__(
        self,
        *,
        limit: str,
        allowed: int,
        current: int,
        requested: int,
        plan: str,
        lifted_by: str | None,
        noun: str | None = None,
        overridden: bool = False,
    ) -> None:
        what = noun or limit
        if allowed == 1 and what.endswith("s"):  # "allows 1 member", not "1 members"
            what = what[:-1]
        lift = f" The {lifted_by} plan allows more." if lifted_by else ""
        whose = (
            "This tenant's own limit (set by the platform, on any plan) is"
            if overridden
            else f"The {plan} plan allows"
        )
        super().__init__(
            f"{whose} {allowed} {what}; this tenant has {current} "
            f"and asked for {requested} more.{lift}",
            details={
                "limit": limit,
                "allowed": allowed,
                "current": current,
                "requested": requested,
                "plan": plan,
                "lifted_by": lifted_by,
                "overridden": overridden,
            },
        )


class FeatureNotInPlan(TenantryError):
    """The tenant's plan does not include a feature."""

    code = "feature_not_in_plan"
    status = 402

    def __init__(self, *, feature: str, plan: str, available_in: str | None) -> None:
        where = f" It comes with the {available_in} plan." if available_in else ""
        super().__init__(
            f"The feature {feature!r} is not part of the {plan} plan.{where}",
            details={"feature": feature, "plan": plan, "available_in": available_in},
        )


def _noun(limit: str) -> str:
    """A limit's name in words: ``rows.vouchers`` is vouchers, ``max_members`` max members."""
    return limit.removeprefix("rows.").replace("_", " ")


class PlanChangeRefused(TenantryError):
    """A downgrade below the tenant's current use: ``details.over`` says what must go first."""

    code = "plan_change_refused"
    status = 409

    def __init__(self, *, plan: str, over: list[dict[str, Any]]) -> None:
        first = over[0]
        super().__init__(
            f"The {plan} plan allows {first['allowed']} {_noun(first['limit'])}, this tenant uses "
            f"{first['current']}: remove {first['remove']} first"
            + (f" (and {len(over) - 1} more limit(s))" if len(over) > 1 else "")
            + ".",
            details={"plan": plan, "over": over},
        )


class PlanBilled(TenantryError):
    """With billing on, an owner changes plan through Checkout and the Customer Portal."""

    code = "billing_required"
    status = 409

    def __init__(self) -> None:
        super().__init__(
            "plans are paid for: start Checkout (POST /api/tenant/billing/checkout) to "
            "upgrade, or change or cancel the subscription in the Customer Portal"
        )
