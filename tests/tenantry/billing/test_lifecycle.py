"""Billing against the local Stripe: trial, conversion, dunning, Checkout, on both backends."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenantry.billing import Billing
from tenantry.models import AuditEvent, BillingAccount, BillingEvent, Tenant
from tenantry.plans import load_entitlements
from tenantry.platform_admins import set_platform_admin
from tests.conftest import PASSWORD, Member, register
from tests.support.stripe import PRICES, LocalStripe, sign
from tests.tenantry.billing.conftest import deliver


def _account(billing: Billing, member: Member) -> BillingAccount:
    with billing.db.session() as session:
        account = session.get(BillingAccount, uuid.UUID(member.tenant_id))
        assert account is not None
        session.expunge(account)
        return account


def _tenant(billing: Billing, member: Member) -> Tenant:
    with billing.db.session() as session:
        tenant = session.get(Tenant, uuid.UUID(member.tenant_id))
        assert tenant is not None
        session.expunge(tenant)
        return tenant


def _signed_up(client: TestClient, billing: Billing, email: str) -> Member:
    member = register(client, email, tenant_name=email.split("@")[0])
    assert billing.provisioner.wait_idle()
    return member


def _subscription_of(stripe: LocalStripe, member: Member) -> str:
    found = [
        s["id"]
        for s in stripe.subscriptions.values()
        if s["metadata"].get("tenant_id") == member.tenant_id
    ]
    assert len(found) == 1, found
    return str(found[0])


def test_sign_up_starts_a_trial_and_the_trial_converts(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _signed_up(client, billing, "alice@example.com")
    account = _account(billing, alice)
    assert account.status == "trialing" and account.customer_id in stripe.customers
    sub_id = _subscription_of(stripe, alice)
    assert stripe.subscriptions[sub_id]["items"]["data"][0]["price"]["id"] == PRICES["household"]
    shown = client.get("/api/tenant/billing", headers=alice.headers).json()
    assert shown["plan"] == "household" and shown["status"] == "trialing"
    assert shown["trial_days_left"] == 14
    assert shown["next_invoice_at"] is not None
    # Stripe's own events about the sign-up arrive too, and change nothing more.
    deliver(client, stripe, stripe.undelivered())
    assert _account(billing, alice).status == "trialing"

    outcomes = deliver(client, stripe, stripe.trial_converts(sub_id))
    assert outcomes == ["applied", "applied"]
    shown = client.get("/api/tenant/billing", headers=alice.headers).json()
    assert shown["status"] == "active" and shown["plan"] == "household"
    assert shown["trial_days_left"] is None
    assert _tenant(billing, alice).trial_ends_at is None


def test_a_trial_is_for_a_persons_first_tenant_not_each_they_create(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    """Every POST /api/tenants started another 14-day trial of a paid plan."""
    alice = _signed_up(client, billing, "alice@example.com")
    created = client.post("/api/tenants", json={"name": "Second flat"}, headers=alice.headers)
    assert created.status_code == 201, created.text
    in_second = {"Authorization": f"Bearer {created.json()['access_token']}"}
    second_id = client.get("/api/tenant", headers=in_second).json()["id"]
    assert billing.provisioner.wait_idle()
    with billing.db.session() as session:
        second = session.get(BillingAccount, uuid.UUID(second_id))
        assert second is not None
        assert (second.status, second.customer_id is not None) == ("free", True)
    assert _account(billing, alice).status == "trialing"  # the first keeps its trial
    bob = _signed_up(client, billing, "bob@example.com")  # someone else's first: a trial
    assert _account(billing, bob).status == "trialing"


def test_failed_payment_grace_suspension_and_reactivation(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _signed_up(client, billing, "alice@example.com")
    sub_id = _subscription_of(stripe, alice)
    deliver(client, stripe, stripe.undelivered() + stripe.trial_converts(sub_id))

    deliver(client, stripe, stripe.payment_fails(sub_id))
    account = _account(billing, alice)
    assert account.status == "past_due" and account.grace_until is not None
    # In the grace period the household keeps working.
    assert client.get("/api/tenant", headers=alice.headers).status_code == 200
    assert billing.sweep(now=account.grace_until - timedelta(minutes=1)).suspended == 0
    assert client.get("/api/tenant", headers=alice.headers).status_code == 200

    assert billing.sweep(now=account.grace_until + timedelta(seconds=1)).suspended == 1
    refused = client.get("/api/tenant", headers=alice.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "tenant_suspended"
    assert _tenant(billing, alice).status == "suspended"
    # The owner can still reach the portal: that is where they pay.
    portal = client.post("/api/tenant/billing/portal", headers=alice.headers)  # no body: fine
    assert portal.status_code == 200, portal.text
    assert portal.json()["url"].startswith(stripe.url)
    # So can they after signing in again: sign-in and refresh answered 403 tenant_suspended,
    # and an owner whose token had expired could never pay (outside tester).
    login = client.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert login.status_code == 200 and login.json()["tenant_id"] == alice.tenant_id, login.text
    again = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert client.post("/api/tenant/billing/portal", headers=again).status_code == 200
    assert client.get("/api/tenant", headers=again).status_code == 403  # and nothing else
    renewed = client.post(
        "/api/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
    )
    assert renewed.status_code == 200, renewed.text

    deliver(client, stripe, stripe.payment_succeeds(sub_id))
    assert _account(billing, alice).status == "active"
    assert _tenant(billing, alice).status == "active"
    assert client.get("/api/tenant", headers=alice.headers).status_code == 200
    with billing.db.session() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.tenant_id == uuid.UUID(alice.tenant_id))
        ).all()
    assert {"billing.payment_failed", "billing.suspended", "billing.reactivated"} <= set(actions)


def test_unpaid_suspends_at_once_and_a_payment_does_not_lift_an_operators_suspension(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _signed_up(client, billing, "alice@example.com")
    sub_id = _subscription_of(stripe, alice)
    stripe.tick()
    deliver(client, stripe, [stripe.update(sub_id, status="unpaid")])
    assert _tenant(billing, alice).status == "suspended"
    deliver(client, stripe, stripe.payment_succeeds(sub_id))
    assert _tenant(billing, alice).status == "active"

    bob = _signed_up(client, billing, "bob@example.com")
    with billing.db.session() as session:
        tenant = session.get(Tenant, uuid.UUID(bob.tenant_id))
        assert tenant is not None
        tenant.status = "suspended"  # an operator's suspension
    bob_sub = _subscription_of(stripe, bob)
    deliver(client, stripe, stripe.payment_fails(bob_sub))
    billing.sweep(now=datetime.now(UTC) + timedelta(days=30))
    deliver(client, stripe, stripe.payment_succeeds(bob_sub))
    assert _tenant(billing, bob).status == "suspended"  # only the operator lifts it


def test_an_operators_suspension_and_billings_are_two_holds(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    operator = _signed_up(client, billing, "ops@example.com")
    with billing.db.session() as session:
        set_platform_admin(session, email=operator.email, grant=True)
    alice = _signed_up(client, billing, "alice@example.com")
    sub_id = _subscription_of(stripe, alice)
    admin = f"/api/admin/tenants/{alice.tenant_id}"

    # Billing suspends, then the operator: the payment lifts only billing's suspension.
    stripe.tick()
    deliver(client, stripe, [stripe.update(sub_id, status="unpaid")])
    assert client.post(f"{admin}/suspend", headers=operator.headers).status_code == 204
    deliver(client, stripe, stripe.payment_succeeds(sub_id))
    assert _tenant(billing, alice).status == "suspended"
    assert client.post(f"{admin}/reactivate", headers=operator.headers).status_code == 204
    assert _tenant(billing, alice).status == "active"

    # The operator suspends, then billing: the operator's reactivation leaves billing's.
    assert client.post(f"{admin}/suspend", headers=operator.headers).status_code == 204
    stripe.tick()
    deliver(client, stripe, [stripe.update(sub_id, status="unpaid")])
    refused = client.post(f"{admin}/reactivate", headers=operator.headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "payment_due"
    assert _tenant(billing, alice).status == "suspended"
    # Lifted some other way (by hand here; a restore is another): the sweep applies it.
    with billing.db.session() as session:
        tenant = session.get(Tenant, uuid.UUID(alice.tenant_id))
        assert tenant is not None
        tenant.status = "active"
    assert billing.sweep(now=datetime.now(UTC)).suspended == 1
    assert _tenant(billing, alice).status == "suspended"
    assert _account(billing, alice).status == "suspended"
    deliver(client, stripe, stripe.payment_succeeds(sub_id))
    assert _tenant(billing, alice).status == "active"


def test_the_same_event_twice_changes_state_once(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _signed_up(client, billing, "alice@example.com")
    sub_id = _subscription_of(stripe, alice)
    failed, past_due = stripe.payment_fails(sub_id)
    assert deliver(client, stripe, [failed, failed, past_due, past_due]) == [
        "applied",
        "duplicate",
        "applied",
        "duplicate",
    ]
    with billing.db.session() as session:
        failures = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.tenant_id == uuid.UUID(alice.tenant_id),
                AuditEvent.action == "billing.payment_failed",
            )
        )
        rows = session.scalar(
            select(func.count()).select_from(BillingEvent).where(BillingEvent.id == failed["id"])
        )
    assert failures == 1 and rows == 1


def test_events_out_of_order_never_roll_back(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _signed_up(client, billing, "alice@example.com")
    sub_id = _subscription_of(stripe, alice)
    failed = stripe.payment_fails(sub_id)
    paid = stripe.payment_succeeds(sub_id)
    # Stripe sent them in this order; the network delivers the newer ones first.
    assert deliver(client, stripe, paid + failed) == ["applied", "applied", "stale", "stale"]
    account = _account(billing, alice)
    assert account.status == "active" and account.grace_until is None
    assert _tenant(billing, alice).plan == "household"


def test_forged_missing_and_replayed_signatures_are_refused_and_change_nothing(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _signed_up(client, billing, "alice@example.com")
    sub_id = _subscription_of(stripe, alice)
    event = stripe.update(sub_id, status="unpaid")

    def post(body: bytes, headers: dict[str, str]) -> httpx.Response:
        return client.post("/api/billing/webhook", content=body, headers=headers)

    forged = stripe.deliver(event, post=post, secret="whsec_someone_else")
    now = int(datetime.now(UTC).timestamp())
    replayed = stripe.deliver(event, post=post, timestamp=now - 600)
    # Dated ahead, it stayed valid (replayable) until then: the library checks the past only.
    ahead = stripe.deliver(event, post=post, timestamp=now + 100_000)
    missing = client.post(
        "/api/billing/webhook", content=b'{"id": "evt_x"}', headers={"Content-Type": "x"}
    )
    garbage = client.post(
        "/api/billing/webhook", content=b"{", headers={"Stripe-Signature": "t=1,v1=00"}
    )
    for answer in (forged, replayed, ahead, missing, garbage):
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "invalid_signature"
    # A body tampered after signing fails as well.
    header = stripe.deliver(event, post=lambda body, headers: headers["Stripe-Signature"])
    tampered = client.post(
        "/api/billing/webhook",
        content=b'{"id": "evt_other", "type": "invoice.paid", "data": {"object": {}}}',
        headers={"Stripe-Signature": header},
    )
    assert tampered.status_code == 400
    with billing.db.session() as session:
        assert session.get(BillingEvent, event["id"]) is None
    assert _tenant(billing, alice).status == "active"
    assert _account(billing, alice).status == "trialing"


def test_signed_bodies_that_are_not_events_are_refused_not_500(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    """Only the secret's holder can sign them, but each was a 500 (Stripe retries those),
    and an event from the far future made every real one after it stale."""
    alice = _signed_up(client, billing, "alice@example.com")
    sub_id = _subscription_of(stripe, alice)
    bad_time = stripe.update(sub_id, status="active")
    bad_time["data"]["object"]["current_period_end"] = "soon"
    far_future = {**stripe.update(sub_id, status="unpaid"), "created": 99_999_999_999_999}
    for body in (b"[]", b"null", b"42", orjson.dumps(bad_time), orjson.dumps(far_future)):
        answer = client.post(
            "/api/billing/webhook",
            content=body,
            headers={"Stripe-Signature": sign(body, stripe.webhook_secret)},
        )
        assert answer.status_code == 400, (body[:60], answer.text)
        assert answer.json()["error"]["code"] == "invalid_signature"
    assert _tenant(billing, alice).status == "active"
    assert deliver(client, stripe, [stripe.update(sub_id, status="unpaid")]) == ["applied"]


def test_signed_events_with_malformed_objects_are_refused_not_500(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    """Items that are not a list, an item or a price that is not an object, an invoice's
    parent that is a string, ids that are numbers or objects: each was a 500, retried by
    Stripe forever; now a 400 that changes nothing."""
    alice = _signed_up(client, billing, "alice@example.com")
    sub_id = _subscription_of(stripe, alice)
    deliver(client, stripe, stripe.undelivered())
    sub = stripe.subscriptions[sub_id]
    item = sub["items"]["data"][0]
    customer = sub["customer"]
    shapes = [
        ("customer.subscription.updated", {**sub, "status": "active", "items": "x"}),
        ("customer.subscription.updated", {**sub, "status": "active", "items": {"data": "x"}}),
        ("customer.subscription.updated", {**sub, "status": "active", "items": {"data": ["x"]}}),
        (
            "customer.subscription.updated",
            {**sub, "status": "active", "items": {"data": [{**item, "price": "price_x"}]}},
        ),
        ("customer.subscription.updated", {**sub, "id": None, "status": "active"}),
        ("customer.subscription.updated", {**sub, "id": 7, "status": "active"}),
        ("customer.subscription.updated", {**sub, "id": "sub_" + "x" * 80, "status": "active"}),
        # Stored cut (or refused by PostgreSQL): a redelivery was a 409, or a 422.
        ("customer.subscription.updated", {**sub, "customer": "cus_" + "x" * 300}),
        ("customer.subscription.updated", {**sub, "customer": "cus_\x00"}),
        ("invoice.paid", {"object": "invoice", "customer": customer, "parent": "x"}),
        ("invoice.paid", {"object": "invoice", "customer": customer, "subscription": {"id": 1}}),
        (
            "checkout.session.completed",
            {"object": "checkout.session", "customer": customer, "subscription": {"id": "s"}},
        ),
    ]
    before = _account(billing, alice)
    long_id = {**stripe.event("customer.subscription.updated", sub), "id": "evt_" + "x" * 300}
    for event in [*(stripe.event(kind, obj) for kind, obj in shapes), long_id]:
        stripe.tick()
        kind, obj = event["type"], event["data"]["object"]
        answer = stripe.deliver(
            event,
            post=lambda body, headers: client.post(
                "/api/billing/webhook", content=body, headers=headers
            ),
        )
        assert answer.status_code == 400, (kind, obj, answer.text)
        assert answer.json()["error"]["code"] == "invalid_signature"
        with billing.db.session() as session:
            assert session.get(BillingEvent, event["id"]) is None
    after = _account(billing, alice)
    assert (after.subscription_id, after.status, after.price_id) == (
        before.subscription_id,
        before.status,
        before.price_id,
    )
    assert _tenant(billing, alice).plan == "household"


def test_an_unknown_customers_event_is_recorded_and_answered(
    client: TestClient, billing: Billing, stripe: LocalStripe, alice: Member
) -> None:
    billing.provisioner.wait_idle()
    event = stripe.event(
        "customer.subscription.updated",
        {
            "id": "sub_elsewhere",
            "object": "subscription",
            "customer": "cus_unknown",
            "status": "unpaid",
        },
    )
    assert deliver(client, stripe, [event]) == ["unknown_customer"]
    with billing.db.session() as session:
        row = session.get(BillingEvent, event["id"])
        assert row is not None and row.tenant_id is None and row.outcome == "unknown_customer"
    assert _tenant(billing, alice).status == "active"


def test_checkout_moves_the_plan_when_stripe_says_paid_and_the_old_trial_ends_harmlessly(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _signed_up(client, billing, "alice@example.com")
    trial = _subscription_of(stripe, alice)
    deliver(client, stripe, stripe.undelivered())
    answer = client.post(
        "/api/tenant/billing/checkout", json={"plan": "pro"}, headers=alice.headers
    )
    assert answer.status_code == 200, answer.text
    url = answer.json()["url"]
    assert url.startswith(stripe.url + "/checkout/")
    assert _tenant(billing, alice).plan == "household"  # nothing moves before payment
    stripe.tick()
    paid = httpx.post(url + "/pay")  # the customer pays on Stripe's page
    assert paid.status_code == 303
    deliver(client, stripe, stripe.undelivered())
    assert _tenant(billing, alice).plan == "pro"
    assert _account(billing, alice).status == "active"
    # Limits and features are the catalogue's pro plan, whatever the payload carried.
    with billing.db.session() as session:
        ents = load_entitlements(session, uuid.UUID(alice.tenant_id), catalogue=billing.catalogue)
    assert ents.plan.name == "pro" and ents.limits == billing.catalogue.get("pro").limits
    # The sign-up trial ends later without a card: not the current subscription, ignored.
    assert deliver(client, stripe, stripe.cancels(trial)) == ["other_subscription"]
    assert _tenant(billing, alice).plan == "pro"


def test_cancellation_at_period_end_then_the_default_plan(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _signed_up(client, billing, "alice@example.com")
    sub_id = _subscription_of(stripe, alice)
    deliver(client, stripe, stripe.trial_converts(sub_id))
    stripe.tick()
    deliver(client, stripe, [stripe.update(sub_id, cancel_at_period_end=True)])
    shown = client.get("/api/tenant/billing", headers=alice.headers).json()
    assert shown["cancel_at_period_end"] is True and shown["next_invoice_at"] is None
    assert shown["plan"] == "household"
    deliver(client, stripe, stripe.cancels(sub_id))
    shown = client.get("/api/tenant/billing", headers=alice.headers).json()
    assert shown["plan"] == "free" and shown["status"] == "canceled"
    # Ended: no "ends on" left to show (the household page said it still would).
    assert shown["cancel_at_period_end"] is False


def test_a_subscription_canceled_at_once_shows_no_next_invoice(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _signed_up(client, billing, "alice@example.com")
    sub_id = _subscription_of(stripe, alice)
    deliver(client, stripe, stripe.trial_converts(sub_id))
    assert client.get("/api/tenant/billing", headers=alice.headers).json()["next_invoice_at"]
    deliver(client, stripe, stripe.cancels(sub_id))
    shown = client.get("/api/tenant/billing", headers=alice.headers).json()
    assert shown["status"] == "canceled" and shown["next_invoice_at"] is None


def test_an_unknown_price_never_changes_the_plan(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _signed_up(client, billing, "alice@example.com")
    sub_id = _subscription_of(stripe, alice)
    sub = stripe.subscriptions[sub_id]
    sub["items"]["data"][0]["price"] = {"id": "price_not_ours", "object": "price"}
    sub["metadata"] = {"plan": "pro", "members": "9999"}  # payload fields are never trusted
    stripe.tick()
    deliver(client, stripe, [stripe.update(sub_id, status="active")])
    assert _tenant(billing, alice).plan == "household"


def test_stripe_down_at_sign_up_leaves_a_working_household_that_the_sweep_finishes(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    stripe.down = True
    alice = _signed_up(client, billing, "alice@example.com")
    account = _account(billing, alice)
    assert account.status == "pending" and account.customer_id is None
    assert account.attempts >= 1 and account.last_error
    assert client.get("/api/tenant", headers=alice.headers).status_code == 200
    assert _tenant(billing, alice).plan == "free"
    stripe.down = False
    assert billing.sweep().provisioned == 1
    assert _account(billing, alice).status == "trialing"
    assert _tenant(billing, alice).plan == "household"
    customers = [
        c for c in stripe.customers.values() if c["metadata"].get("tenant_id") == alice.tenant_id
    ]
    assert len(customers) == 1
    assert billing.sweep().provisioned == 0  # nothing pending any more


def test_only_owners_start_checkout_and_plans_are_not_changed_around_billing(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _signed_up(client, billing, "alice@example.com")
    code = client.post("/api/tenant/invites", json={"role": "admin"}, headers=alice.headers).json()[
        "code"
    ]
    bob = register(client, "bob@example.com", invite_code=code)
    for path, body in (
        ("/api/tenant/billing/checkout", {"plan": "pro"}),
        ("/api/tenant/billing/portal", {}),
    ):
        answer = client.post(
            path, json=body, headers={**bob.headers, "X-Tenant-ID": alice.tenant_id}
        )
        assert answer.status_code == 403, answer.text
    free_pro = client.put("/api/tenant/plan", json={"plan": "pro"}, headers=alice.headers)
    assert free_pro.status_code == 409 and free_pro.json()["error"]["code"] == "billing_required"
    unsold = client.post(
        "/api/tenant/billing/checkout", json={"plan": "free"}, headers=alice.headers
    )
    assert unsold.status_code == 422
    elsewhere = client.post(
        "/api/tenant/billing/checkout",
        json={"plan": "pro", "success_url": "https://evil.example/"},
        headers=alice.headers,
    )
    assert elsewhere.status_code == 422
    forged = client.post(  # the site is the configured one, never the request's Host header
        "/api/tenant/billing/checkout",
        json={"plan": "pro", "success_url": "https://evil.example/"},
        headers={**alice.headers, "Host": "evil.example"},
    )
    assert forged.status_code == 422
    stripe.down = True
    down = client.post("/api/tenant/billing/checkout", json={"plan": "pro"}, headers=alice.headers)
    assert down.status_code == 503 and down.json()["error"]["code"] == "billing_unavailable"


def test_another_households_owner_reaches_none_of_its_billing(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _signed_up(client, billing, "alice@example.com")
    bob = _signed_up(client, billing, "bob@example.com")
    aim = {**bob.headers, "X-Tenant-ID": alice.tenant_id}
    assert client.get("/api/tenant/billing", headers=aim).status_code == 404
    for path, body in (
        ("/api/tenant/billing/checkout", {"plan": "pro"}),
        ("/api/tenant/billing/portal", {}),
    ):
        assert client.post(path, json=body, headers=aim).status_code == 404
    # Bob's own links are for Bob's customer only.
    portal = client.post("/api/tenant/billing/portal", json={}, headers=bob.headers).json()
    assert portal["url"].endswith(_account(billing, bob).customer_id or "-")
    assert _account(billing, alice).customer_id != _account(billing, bob).customer_id


def test_the_console_shows_a_tenants_billing_state(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _signed_up(client, billing, "alice@example.com")
    operator = _signed_up(client, billing, "ops@example.com")
    with billing.db.session() as session:
        set_platform_admin(session, email=operator.email, grant=True)
    page = client.get(f"/console/tenants/{alice.tenant_id}", headers=operator.headers)
    assert page.status_code == 200, page.text
    card = page.text.split('id="stat-billing"', 1)[1].split("</div>", 1)[0]
    assert "trialing" in card and "trial until" in card
    # A plan set here lasts only until Stripe's next event: the operator is told so.
    note = page.text.split('id="plan-billed"', 1)[1].split("</p>", 1)[0]
    assert "puts it back on the plan it pays for" in note
    changed = client.put(
        f"/api/admin/tenants/{alice.tenant_id}/plan", json={"plan": "pro"}, headers=operator.headers
    )
    assert changed.status_code == 200, changed.text
    stripe.tick()
    deliver(client, stripe, stripe.trial_converts(_subscription_of(stripe, alice)))
    assert _tenant(billing, alice).plan == "household"


def test_a_deleted_household_stops_renewing(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _signed_up(client, billing, "alice@example.com")
    sub_id = _subscription_of(stripe, alice)
    deliver(client, stripe, stripe.trial_converts(sub_id))
    slug = client.get("/api/tenant", headers=alice.headers).json()["slug"]
    gone = client.delete(f"/api/tenant?confirm={slug}", headers=alice.headers)
    assert gone.status_code == 204, gone.text
    assert billing.sweep().canceled == 1
    assert stripe.subscriptions[sub_id]["cancel_at_period_end"] is True
    assert _account(billing, alice).cancel_at_period_end is True
    assert billing.sweep().canceled == 0  # told once


def test_the_same_event_delivered_at_once_applies_once(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    alice = _signed_up(client, billing, "alice@example.com")
    sub_id = _subscription_of(stripe, alice)
    event = stripe.payment_fails(sub_id)[1]  # customer.subscription.updated, past_due
    body = orjson.dumps(event)
    header = sign(body)
    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(lambda _: billing.handle_webhook(body, header), range(6)))
    assert sorted(outcomes) == ["applied"] + ["duplicate"] * 5
    with billing.db.session() as session:
        failures = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.tenant_id == uuid.UUID(alice.tenant_id),
                AuditEvent.action == "billing.payment_failed",
            )
        )
    assert failures == 1


def test_sign_in_lands_in_an_active_tenant_before_a_suspended_older_one(
    client: TestClient, billing: Billing
) -> None:
    """A suspended first household locked its owner out of their other, active ones."""
    alice = _signed_up(client, billing, "alice@example.com")
    created = client.post("/api/tenants", json={"name": "Workshop"}, headers=alice.headers)
    assert created.status_code == 201, created.text
    with billing.db.session() as session:
        session.get_one(Tenant, uuid.UUID(alice.tenant_id)).status = "suspended"
    login = client.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    assert login.json()["tenant_id"] == created.json()["tenant_id"]
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert client.get("/api/tenant", headers=headers).status_code == 200
    back = client.post(
        "/api/auth/switch", json={"tenant_id": alice.tenant_id}, headers=headers
    )  # to the suspended one, to pay
    assert back.status_code == 200, back.text


def test_an_operators_own_tenant_gets_no_customer_and_no_trial(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    """The operator's "Platform operations" tenant got a Stripe customer and a trial of
    the Household plan, as a customer's sign-up does (outside tester)."""
    from tenantry.platform_admins import create_platform_admin

    tenancy = client.app.state.tenancy  # type: ignore[attr-defined]
    with tenancy.db.session() as session:
        create_platform_admin(
            session, tenancy.passwords, email="ops@example.com", password=PASSWORD
        )
    assert billing.provisioner.wait_idle()
    with billing.db.session() as session:
        [account] = session.scalars(
            select(BillingAccount)
            .join(Tenant, Tenant.id == BillingAccount.tenant_id)
            .where(Tenant.name == "Platform operations")
        ).all()
        assert (account.status, account.customer_id) == ("free", None)
    ours = str(account.tenant_id)
    assert not [c for c in stripe.customers.values() if c["metadata"].get("tenant_id") == ours]
    alice = _signed_up(client, billing, "alice@example.com")  # a customer still gets hers
    assert _account(billing, alice).status == "trialing"


def test_the_local_stripe_drives_dunning_over_http(
    client: TestClient, billing: Billing, stripe: LocalStripe
) -> None:
    """docs/billing.md has operators try billing with the local Stripe on its own: its
    failed payments could be driven from Python only (outside tester)."""
    alice = _signed_up(client, billing, "alice@example.com")
    sub_id = _subscription_of(stripe, alice)
    deliver(client, stripe, stripe.undelivered())
    assert sub_id in httpx.get(f"{stripe.url}/").text
    failed = httpx.post(f"{stripe.url}/local/subscriptions/{sub_id}/payment_fails")
    assert failed.json() == {"events": ["invoice.payment_failed", "customer.subscription.updated"]}
    deliver(client, stripe, stripe.undelivered())
    assert _account(billing, alice).status == "past_due"
    unknown = httpx.post(f"{stripe.url}/local/subscriptions/{sub_id}/explodes")
    assert unknown.status_code == 404
