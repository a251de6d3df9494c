"""The billing state machine: a Stripe event moves one tenant's plan and status, or nothing.

Only the plan's *name* is taken from Stripe (through the price → plan map): its
limits and features are the catalogue's. Ordering is Stripe's, not arrival:
an event created before the last one applied to the account is recorded as
``stale`` and changes nothing, so a late ``past_due`` never undoes a payment.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tenantry import audit
from tenantry.billing.config import BillingConfig
from tenantry.billing.errors import InvalidWebhook
from tenantry.models import BillingAccount, BillingEvent, Tenant, TenantStatus
from tenantry.models.billing import (
    ACTIVE,
    CANCELED,
    PAST_DUE,
    SUSPENDED,
    TRIALING,
)
from tenantry.plans import Catalogue

LIVE = (TRIALING, ACTIVE, PAST_DUE, SUSPENDED)  # a subscription Stripe may still charge
_PAID_UP = (ACTIVE, PAST_DUE, SUSPENDED)  # paid for (or owed): past any trial

# Stripe subscription statuses and what they mean here.
_PAID = {"trialing": TRIALING, "active": ACTIVE}
_ENDED = {"canceled", "incomplete_expired", "paused"}
HANDLED = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.trial_will_end",
        "invoice.paid",
        "invoice.payment_failed",
    }
)


def _at(seconds: Any) -> datetime | None:
    """A Stripe timestamp; anything else in a signed event is refused as malformed."""
    if not seconds:
        return None
    try:
        return datetime.fromtimestamp(int(seconds), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise InvalidWebhook(f"webhook refused: {str(seconds)[:40]!r} is not a time") from None


def _dict(value: Any, where: str) -> dict[str, Any]:
    """An object of a signed event (absent: empty); another shape is refused as malformed."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidWebhook(f"webhook refused: {where} is not an object")
    return value


def _stripe_id(value: Any, where: str, *, longest: int = 64) -> str | None:
    """A Stripe id (absent: ``None``); a number, an object, a NUL or more than ``longest``
    characters are refused (stored cut, a redelivery would no longer be recognised)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > longest or "\x00" in value:
        raise InvalidWebhook(f"webhook refused: {where} is not a Stripe id")
    return value


def _customer_of(obj: dict[str, Any]) -> str | None:
    if obj.get("object") == "customer":
        return _stripe_id(obj.get("id"), "the customer's id")
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    return _stripe_id(customer, "the customer")


def account_for(session: Session, customer_id: str | None) -> BillingAccount | None:
    """The account of a Stripe customer, locked for the rest of the transaction."""
    if not customer_id:
        return None
    stmt = select(BillingAccount).where(BillingAccount.customer_id == customer_id)
    return session.scalars(stmt.with_for_update()).first()


def apply_event(
    session: Session,
    event: dict[str, Any],
    *,
    config: BillingConfig,
    catalogue: Catalogue,
    now: datetime | None = None,
) -> str:
    """Apply one verified event in the session's transaction; returns its outcome.

    ``duplicate`` (seen before: nothing happens), ``unknown_customer``,
    ``ignored`` (a type billing does not act on), ``stale`` (older than the
    last applied), ``other_subscription`` (not the tenant's current one), ``applied``.
    Every outcome but ``duplicate`` is recorded with the event id.
    """
    now = now or datetime.now(UTC)
    event_id = _stripe_id(event.get("id"), "the event's id", longest=255)
    kind = str(event.get("type", ""))
    if event_id is None or "\x00" in kind:
        raise InvalidWebhook("webhook refused: the body is not a Stripe event")
    created = int(event.get("created") or 0)
    if session.get(BillingEvent, event_id) is not None:
        return "duplicate"
    obj: dict[str, Any] = event.get("data", {}).get("object") or {}
    customer_id = _customer_of(obj)
    account = account_for(session, customer_id)
    record = BillingEvent(
        id=event_id,
        type=kind[:96],
        created=created,
        customer_id=customer_id,
        outcome="received",
    )
    session.add(record)
    if account is None and kind not in HANDLED:
        record.outcome = "ignored"  # not an event billing acts on (customer.created, ...)
        return record.outcome
    if account is None:
        record.outcome = "unknown_customer"
        audit.record(
            session,
            "billing.unknown_customer",
            tenant_id=None,
            actor_id=None,
            target=f"stripe:{customer_id}",
            event=event_id,
            type=kind,
        )
        return record.outcome
    record.tenant_id = account.tenant_id
    before = account.status
    if kind not in HANDLED:
        record.outcome = "ignored"
    elif created < account.last_event_at:
        record.outcome = "stale"
    else:
        record.outcome = _dispatch(session, account, kind, obj, config, catalogue, now)
        if record.outcome == "applied":
            account.last_event_at = created
    audit.record(
        session,
        "billing.event",
        tenant_id=account.tenant_id,
        actor_id=None,
        target=f"stripe:{event_id}",
        type=kind,
        outcome=record.outcome,
        old=before,
        new=account.status,
    )
    return record.outcome


def _dispatch(
    session: Session,
    account: BillingAccount,
    kind: str,
    obj: dict[str, Any],
    config: BillingConfig,
    catalogue: Catalogue,
    now: datetime,
) -> str:
    if kind == "checkout.session.completed":
        sub_id = _stripe_id(obj.get("subscription"), "the session's subscription")
        if sub_id is not None:
            _replace(account, sub_id)
        return "applied"
    if kind.startswith("customer.subscription."):
        return apply_subscription(
            session, account, obj, config=config, catalogue=catalogue, now=now
        )
    # Newer API versions name an invoice's subscription under parent.subscription_details.
    parent = _dict(obj.get("parent"), "the invoice's parent")
    details = _dict(parent.get("subscription_details"), "the invoice's subscription details")
    sub_id = _stripe_id(
        obj.get("subscription") or details.get("subscription"), "the invoice's subscription"
    )
    if sub_id and account.subscription_id and sub_id != account.subscription_id:
        return "other_subscription"
    if kind == "invoice.payment_failed":
        start_grace(session, account, config=config, now=now)
    elif kind == "invoice.paid" and account.status in (PAST_DUE, SUSPENDED):
        _paid(session, account, ACTIVE)
    return "applied"


def apply_subscription(
    session: Session,
    account: BillingAccount,
    sub: dict[str, Any],
    *,
    config: BillingConfig,
    catalogue: Catalogue,
    now: datetime,
) -> str:
    """Bring the tenant in line with ``sub`` (a Stripe subscription object)."""
    sub_id, status = _stripe_id(sub.get("id"), "the subscription's id"), str(sub.get("status"))
    if sub_id is None:
        raise InvalidWebhook("webhook refused: the subscription has no id")
    current = account.subscription_id
    replaced = sub_id in (account.superseded or ())
    if current and sub_id != current and (status not in _PAID or replaced):
        # An old trial ending after a Checkout, or a replaced subscription's last
        # renewal before the sweep canceled it: not ours any more.
        return "other_subscription"
    if current and sub_id != current and status == "trialing" and account.status in _PAID_UP:
        # A sign-up trial the sweep started while a Checkout was being paid: it must not
        # replace the plan paid for, and is canceled (with a card on file it would charge).
        _supersede(account, sub_id)
        return "other_subscription"
    items = _dict(sub.get("items"), "the subscription's items").get("data") or [None]
    if not isinstance(items, list):
        raise InvalidWebhook("webhook refused: the subscription's items are not a list")
    item = _dict(items[0], "a subscription item")
    price_id = _stripe_id(_dict(item.get("price"), "an item's price").get("id"), "a price")
    _replace(account, sub_id)
    account.cancel_at_period_end = bool(sub.get("cancel_at_period_end"))
    account.trial_ends_at = _at(sub.get("trial_end")) if status == "trialing" else None
    # Newer API versions keep the period on the item.
    account.current_period_end = _at(
        sub.get("current_period_end") or item.get("current_period_end")
    )
    if status in _PAID:
        plan = config.plan_of_price(price_id)
        account.price_id = price_id
        if plan is not None:
            set_plan(session, account.tenant_id, plan, trial_ends_at=account.trial_ends_at)
        _paid(session, account, _PAID[status])
    elif status == "past_due":
        start_grace(session, account, config=config, now=now)
    elif status == "unpaid":
        suspend(session, account)
    elif status in _ENDED:
        set_plan(session, account.tenant_id, catalogue.default, trial_ends_at=None)
        _paid(session, account, CANCELED)
    return "applied"


def _replace(account: BillingAccount, sub_id: str) -> None:
    """Make ``sub_id`` the tenant's subscription; a live one it replaces is to be canceled.

    Two Checkouts paid (or one paid while a plan was already paying) would
    otherwise leave two subscriptions charging the customer, each renewal
    moving the plan to its own price.
    """
    current = account.subscription_id
    if current and current != sub_id and account.status in LIVE:
        _supersede(account, current)
    account.subscription_id = sub_id


def _supersede(account: BillingAccount, sub_id: str) -> None:
    """Keep ``sub_id`` for the sweep to cancel (the 20 latest: a bound on a JSON column)."""
    account.superseded = [*(account.superseded or ()), sub_id][-20:]


def set_plan(
    session: Session, tenant_id: uuid.UUID, plan: str, *, trial_ends_at: datetime | None
) -> None:
    """Put the tenant on ``plan`` (a catalogue name), audited when it changes.

    Unlike an owner's change this is not refused over use: the payment decided.
    Rows over a lower plan's quota stay; new ones are refused until under it.
    """
    tenant = session.get(Tenant, tenant_id, with_for_update=True)
    if tenant is None:
        return
    tenant.trial_ends_at = trial_ends_at
    if tenant.plan != plan:
        old, tenant.plan = tenant.plan, plan
        tenant.updated_at = datetime.now(UTC)
        audit.record(
            session,
            "billing.plan_changed",
            tenant_id=tenant_id,
            actor_id=None,
            target=f"plan:{plan}",
            old=old,
            new=plan,
        )


def start_grace(
    session: Session, account: BillingAccount, *, config: BillingConfig, now: datetime
) -> None:
    """A payment failed: the tenant keeps working until ``grace_until``, then is suspended."""
    if account.status in (PAST_DUE, SUSPENDED):
        return
    account.status = PAST_DUE
    account.grace_until = now + config.grace
    audit.record(
        session,
        "billing.payment_failed",
        tenant_id=account.tenant_id,
        actor_id=None,
        grace_until=account.grace_until.isoformat(),
    )


def suspend(session: Session, account: BillingAccount) -> None:
    """Suspend the tenant for non-payment (its members are refused until it pays)."""
    if account.status == SUSPENDED:
        return
    tenant = session.get(Tenant, account.tenant_id, with_for_update=True)
    if tenant is None or tenant.status != TenantStatus.ACTIVE.value:
        # An operator suspended (or an owner deleted) it: a payment must not lift that.
        account.status, account.grace_until = PAST_DUE, None
        return
    account.status = SUSPENDED
    tenant.status = TenantStatus.SUSPENDED.value
    tenant.updated_at = datetime.now(UTC)
    audit.record(session, "billing.suspended", tenant_id=account.tenant_id, actor_id=None)


def _paid(session: Session, account: BillingAccount, status: str) -> None:
    """Paid (or trialing, or ended cleanly): lift a suspension billing made, and only that one."""
    was = account.status
    account.status, account.grace_until = status, None
    if was != SUSPENDED:
        return
    tenant = session.get(Tenant, account.tenant_id, with_for_update=True)
    if tenant is not None and tenant.status == TenantStatus.SUSPENDED.value:
        tenant.status = TenantStatus.ACTIVE.value
        tenant.updated_at = datetime.now(UTC)
    audit.record(
        session, "billing.reactivated", tenant_id=account.tenant_id, actor_id=None, status=status
    )


def end_grace(session: Session, *, now: datetime) -> int:
    """Suspend every tenant whose grace period is over; returns how many."""
    # No grace end: billing's suspension waited for another's (an operator's, a deletion)
    # and applies once that one is lifted, whatever lifted it (a restore, say).
    stmt = select(BillingAccount).where(
        BillingAccount.status == PAST_DUE,
        or_(BillingAccount.grace_until <= now, BillingAccount.grace_until.is_(None)),
    )
    due = list(session.scalars(stmt.with_for_update()))
    for account in due:
        suspend(session, account)
    return len(due)
