"""A Checkout paid while another subscription is live replaces it: one subscription charges."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tenantry.billing import Billing
from tenantry.models import AuditEvent, BillingAccount, Tenant
from tests.conftest import Member, register
from tests.support.stripe import LocalStripe
from tests.tenantry.billing.conftest import deliver


def _trialing(client: TestClient, billing: Billing, stripe: LocalStripe) -> Member:
    """Alice, signed up, her tenant's trial subscription started and its events delivered."""
    alice = register(client, "alice@example.com", tenant_name="alice")
    assert billing.provisioner.wait_idle()
    deliver(client, stripe, stripe.undelivered())
    return alice


def _state(billing: Billing, member: Member) -> tuple[str, str, str | None]:
    with billing.db.session() as session:
        tenant = session.get(Tenant, uuid.UUID(member.tenant_id))
        account = session.get(BillingAccount, uuid.UUID(member.tenant_id))
        assert tenant is not None and account is not None
        return tenant.plan, account.status, account.subscription_id


def _pay_checkout(client: TestClient, stripe: LocalStripe, member: Member, plan: str) -> None:
    answer = client.post(
        "/api/tenant/billing/checkout", json={"plan": plan}, headers=member.headers
    )
    assert answer.status_code == 200, answer.text
    stripe.tick()
    assert httpx.post(answer.json()["url"] + "/pay").status_code == 303
    deliver(client, stripe, stripe.undelivered())


def _live(stripe: LocalStripe, member: Member) -> list[str]:
    customer = next(
        c
        for c, found in stripe.customers.items()
        if found["metadata"]["tenant_id"] == member.tenant_id
    )
    return [
        s["id"]
        for s in stripe.subscriptions.values()
        if s["customer"] == customer and s["status"] not in ("canceled", "incomplete_expired")
    ]


def test_a_checkout_paid_while_paying_cancels_the_old_subscription(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _trialing(client, billing, stripe)
    trial = _state(billing, alice)[2]
    assert trial is not None
    deliver(client, stripe, stripe.trial_converts(trial))
    assert _state(billing, alice) == ("household", "active", trial)

    _pay_checkout(client, stripe, alice, "pro")
    plan, status, pro = _state(billing, alice)
    assert (plan, status) == ("pro", "active") and pro != trial
    # The old subscription renews before the sweep reaches it: the plan stays.
    assert deliver(client, stripe, stripe.payment_succeeds(trial)) == [
        "other_subscription",
        "other_subscription",
    ]
    assert _state(billing, alice) == ("pro", "active", pro)
    stripe.undelivered()  # delivered above

    assert billing.sweep().replaced == 1
    assert _live(stripe, alice) == [pro]  # one subscription charges the customer
    assert deliver(client, stripe, stripe.undelivered()) == ["other_subscription"]
    assert _state(billing, alice) == ("pro", "active", pro)
    assert billing.sweep().replaced == 0
    with billing.db.session() as session:
        found = session.scalars(
            select(AuditEvent.target).where(AuditEvent.action == "billing.subscription_replaced")
        ).all()
    assert found == [f"stripe:{trial}"]


def test_two_checkouts_paid_from_a_trial_leave_the_last_one(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _trialing(client, billing, stripe)
    first = client.post(
        "/api/tenant/billing/checkout", json={"plan": "household"}, headers=alice.headers
    )
    _pay_checkout(client, stripe, alice, "pro")
    stripe.tick()
    assert httpx.post(first.json()["url"] + "/pay").status_code == 303  # the older tab
    deliver(client, stripe, stripe.undelivered())
    plan, status, household = _state(billing, alice)
    assert (plan, status) == ("household", "active")

    billing.sweep()
    deliver(client, stripe, stripe.undelivered())
    assert _live(stripe, alice) == [household]  # the trial and the Pro one are canceled
    assert _state(billing, alice) == ("household", "active", household)


def test_a_replaced_subscription_stripe_cannot_cancel_now_is_retried(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _trialing(client, billing, stripe)
    _pay_checkout(client, stripe, alice, "pro")
    stripe.down = True
    assert billing.sweep().replaced == 0
    stripe.down = False
    assert billing.sweep().replaced == 1
    assert len(_live(stripe, alice)) == 1


def test_a_sign_up_trial_started_late_never_replaces_a_paid_checkout(
    client: TestClient, billing: Billing, stripe: LocalStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stripe was down at sign-up; the sweep retried while the owner paid a Checkout, whose
    webhooks were applied while the trial was being created: the trial's events came last."""
    stripe.down = True
    alice = register(client, "alice@example.com", tenant_name="alice")
    assert billing.provisioner.wait_idle()
    stripe.down = False
    answer = client.post(
        "/api/tenant/billing/checkout", json={"plan": "pro"}, headers=alice.headers
    )
    stripe.tick()
    assert httpx.post(answer.json()["url"] + "/pay").status_code == 303
    paid = stripe.undelivered()
    start_trial = billing.gateway.start_trial

    def checkout_lands_meanwhile(**kwargs: Any) -> dict[str, Any]:
        deliver(client, stripe, paid)
        stripe.tick()
        return start_trial(**kwargs)

    monkeypatch.setattr(billing.gateway, "start_trial", checkout_lands_meanwhile)
    billing.sweep()
    plan, status, pro = _state(billing, alice)
    assert (plan, status) == ("pro", "active")
    assert deliver(client, stripe, stripe.undelivered()) == ["other_subscription"]  # the trial
    assert _state(billing, alice) == ("pro", "active", pro)

    billing.sweep()  # the trial is canceled: with a card on file it would convert and charge
    deliver(client, stripe, stripe.undelivered())
    assert _live(stripe, alice) == [pro]
    assert _state(billing, alice) == ("pro", "active", pro)
