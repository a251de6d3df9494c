"""What a household page or the API shows of a tenant's billing: plan, trial, next invoice."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from tenantry.billing.state import LIVE
from tenantry.models import BillingAccount, Tenant


@dataclass(frozen=True, slots=True)
class BillingView:
    """A tenant's billing state, read-only; ``status`` is billing's (see ``billing.state``)."""

    plan: str
    status: str
    has_customer: bool
    trial_ends_at: datetime | None
    next_invoice_at: datetime | None
    cancel_at_period_end: bool
    grace_until: datetime | None
    period_end: datetime | None = None

    def trial_days_left(self, now: datetime | None = None) -> int | None:
        """Whole days of trial left (0 on its last day), or ``None`` outside a trial."""
        if self.trial_ends_at is None:
            return None
        left = self.trial_ends_at - (now or datetime.now(UTC))
        return max(0, left.days + (1 if left.seconds else 0))


def billing_view(session: Session, tenant_id: uuid.UUID) -> BillingView | None:
    """The view of ``tenant_id``; ``None`` for a tenant that does not exist."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        return None
    account = session.get(BillingAccount, tenant_id)
    if account is None:  # a tenant from before billing was switched on
        return BillingView(tenant.plan, "free", False, None, None, False, None)
    return BillingView(
        plan=tenant.plan,
        status=account.status,
        has_customer=account.customer_id is not None,
        trial_ends_at=account.trial_ends_at,
        # Only a subscription Stripe may still charge has a next invoice.
        next_invoice_at=account.current_period_end
        if account.status in LIVE and not account.cancel_at_period_end
        else None,
        # Still to end: once canceled the subscription has ended, nothing is pending.
        cancel_at_period_end=account.cancel_at_period_end and account.status in LIVE,
        grace_until=account.grace_until,
        period_end=account.current_period_end,
    )
