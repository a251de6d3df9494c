"""A tenant's Stripe customer and subscription, and the webhook events already handled."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.models.base import Base, utcnow

# An account's statuses (:class:`BillingAccount`); :mod:`tenantry.billing.state` moves them.
PENDING = "pending"
FREE = "free"  # a customer, no subscription: the catalogue's default plan
TRIALING = "trialing"
ACTIVE = "active"
PAST_DUE = "past_due"
SUSPENDED = "suspended"
CANCELED = "canceled"


class BillingAccount(Base):
    """One tenant's billing state (control plane: written by the webhook, not by members).

    ``status`` is ours, not Stripe's: ``pending`` (no customer yet: the sweep
    finishes it), ``trialing``, ``active``, ``past_due`` (in the grace period),
    ``suspended`` (billing suspended the tenant), ``canceled``.
    ``last_event_at`` is the Stripe ``created`` time of the last event applied:
    an older event arriving later is recorded and changes nothing.
    ``superseded`` lists subscriptions a newer one replaced (a Checkout paid
    while another was live): the sweep cancels them at Stripe, so the customer is
    never charged twice and their renewals never move the plan back.
    """

    __tablename__ = "tenantry_billing_accounts"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenantry_tenants.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    subscription_id: Mapped[str | None] = mapped_column(String(64), default=None)
    price_id: Mapped[str | None] = mapped_column(String(64), default=None)
    superseded: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True), default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    trial_ends_at: Mapped[datetime | None] = mapped_column(default=None)
    current_period_end: Mapped[datetime | None] = mapped_column(default=None)
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    grace_until: Mapped[datetime | None] = mapped_column(default=None)
    last_event_at: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def owes(self) -> bool:
        """Billing holds the tenant suspended until it pays: it suspended it, or would have
        when another suspension stood first (``past_due`` with no end to its grace)."""
        return self.status == SUSPENDED or (self.status == PAST_DUE and self.grace_until is None)


class BillingEvent(Base):
    """A Stripe event received once: its id makes a redelivery a no-op."""

    __tablename__ = "tenantry_billing_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(96))
    created: Mapped[int] = mapped_column(BigInteger)
    customer_id: Mapped[str | None] = mapped_column(String(64), default=None)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenantry_tenants.id", ondelete="SET NULL"), default=None
    )
    # applied, stale, ignored, unknown_customer, other_subscription
    outcome: Mapped[str] = mapped_column(String(24))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
