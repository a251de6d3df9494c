"""What billing needs from the host: Stripe keys, which price sells which plan, grace."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from tenantry.plans import Catalogue, CatalogueError, Plan


@dataclass(frozen=True, slots=True)
class BillingConfig:
    """Billing settings; with none, a host runs without billing (no Stripe call is made).

    Args:
        api_key: the Stripe secret key (``sk_test_…`` in test mode).
        webhook_secret: the endpoint's signing secret (``whsec_…``).
        prices: plan name → Stripe price id; only these plans are sold. Limits and
            features always come from the plan catalogue, never from Stripe.
        trial_plan: the plan new tenants start a trial of (its ``trial_days``);
            ``None``: the first priced plan with trial days; ``""``: no trial.
        grace: how long a tenant whose payment failed keeps working before it is suspended.
        tolerance: seconds a webhook signature stays valid (replays older are refused).
        api_base: another Stripe API address (a local test server); ``None``: Stripe's.
        sweep_seconds: how often pending sign-ups are retried and grace periods checked.
    """

    api_key: str
    webhook_secret: str
    prices: Mapping[str, str] = field(default_factory=dict)
    trial_plan: str | None = None
    grace: timedelta = timedelta(days=7)
    tolerance: int = 300
    api_base: str | None = None
    sweep_seconds: float = 60.0

    def plan_of_price(self, price_id: str | None) -> str | None:
        """The plan a Stripe price sells, or ``None`` for a price we do not know."""
        return next((plan for plan, price in self.prices.items() if price == price_id), None)

    def check(self, catalogue: Catalogue) -> None:
        """Refuse a mapping naming plans the catalogue does not have.

        Raises:
            CatalogueError: a price maps to an unknown plan, or the trial plan is unsold.
        """
        for plan in self.prices:
            if catalogue.find(plan) is None:
                raise CatalogueError(
                    f"billing prices: {plan!r} is not a plan; choose from {catalogue.names}"
                )
        if self.trial_plan and self.trial_plan not in self.prices:
            raise CatalogueError(f"billing trial plan {self.trial_plan!r} has no price")

    def trial_of(self, catalogue: Catalogue) -> Plan | None:
        """The plan new tenants start a trial of, if any."""
        if self.trial_plan == "":
            return None
        if self.trial_plan is not None:
            plan = catalogue.find(self.trial_plan)
            return plan if plan is not None and plan.trial_days else None
        return next((p for p in catalogue.plans if p.name in self.prices and p.trial_days), None)


def parse_prices(text: str) -> dict[str, str]:
    """``"household=price_1,pro=price_2"`` → ``{"household": "price_1", "pro": "price_2"}``.

    Raises:
        ValueError: an entry that is not ``plan=price``.
    """
    prices: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        plan, sep, price = (p.strip() for p in entry.partition("="))
        if not (sep and plan and price):
            raise ValueError(f"{entry!r}: write plan=price_id, separated by commas")
        prices[plan] = price
    return prices
