"""The household's billing through the forms: off by default, buttons, the suspended page."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from tenantry.models import BillingAccount, Tenant
from tenantry_server.app import create_app, default_plugins
from tenantry_server.settings import Settings
from tests.conftest import FAST_PASSWORDS
from tests.meterbook.pages.test_auth_pages import signin
from tests.meterbook.pages.test_web_session import csrf, signup
from tests.support.stripe import LocalStripe
from tests.tenantry.billing.conftest import billing_settings, stripe, stripe_server

__all__ = ["stripe", "stripe_server"]  # the local Stripe's fixtures, used below


def test_without_a_stripe_key_nothing_of_billing_exists(client: TestClient) -> None:
    base = signup(client, "lena@example.com")
    page = client.get(f"{base}/household").text
    assert 'id="billing"' not in page and 'id="change-plan"' in page
    assert client.get("/api/tenant/billing").status_code == 404
    stranger = TestClient(client.app)  # as Stripe: no cookies
    assert stranger.post("/api/billing/webhook", content=b"{}").status_code == 404
    changed = client.post(
        f"{base}/household/plan", data={"plan": "household", "csrf_token": csrf(page)}
    )
    assert changed.status_code == 200 and "Plan changed." in changed.text
    tenancy = client.app.state.tenancy  # type: ignore[attr-defined]
    assert tenancy.billing is None
    with tenancy.db.session() as session:
        assert session.scalar(select(func.count()).select_from(BillingAccount)) == 0


@pytest.fixture
def billed(settings: Settings, stripe: LocalStripe) -> Iterator[TestClient]:
    app: FastAPI = create_app(
        billing_settings(settings, stripe), default_plugins(), passwords=FAST_PASSWORDS
    )
    with TestClient(app) as client:
        yield client
    app.state.tenancy.db.dispose()


def test_owner_buttons_lead_to_stripe_and_plans_are_not_picked_by_hand(
    billed: TestClient, stripe: LocalStripe
) -> None:
    base = signup(billed, "lena@example.com")
    billed.app.state.tenancy.billing.provisioner.wait_idle()  # type: ignore[attr-defined]
    page = billed.get(f"{base}/household")
    assert 'id="billing"' in page.text and 'data-status="trialing"' in page.text
    assert 'id="change-plan"' not in page.text
    assert stripe.url in page.headers["content-security-policy"]
    token = csrf(page.text)
    refused = billed.post(f"{base}/household/plan", data={"plan": "pro", "csrf_token": token})
    assert refused.status_code == 409
    go = billed.post(
        f"{base}/household/billing/checkout",
        data={"plan": "pro", "csrf_token": token},
        follow_redirects=False,
    )
    assert go.status_code == 303 and go.headers["location"].startswith(f"{stripe.url}/checkout/")
    stripe.down = True
    down = billed.post(
        f"{base}/household/billing/checkout",
        data={"plan": "pro", "csrf_token": token},
    )
    assert down.status_code == 200 and "could not be reached" in down.text


def _pay(client: TestClient, base: str, page: str) -> Response:
    """The suspended page's "Pay in the billing portal" button."""
    return client.post(
        f"{base}/household/billing/portal",
        data={"csrf_token": csrf(page)},
        follow_redirects=False,
    )


def test_a_suspended_household_shows_its_banner_and_only_owners_reach_the_portal(
    billed: TestClient, stripe: LocalStripe
) -> None:
    base = signup(billed, "owner@example.com")
    tenancy = billed.app.state.tenancy  # type: ignore[attr-defined]
    tenancy.billing.provisioner.wait_idle()
    token = csrf(billed.get(f"{base}/household").text)
    code_page = billed.post(
        f"{base}/household/invites", data={"role": "admin", "csrf_token": token}
    ).text
    code = code_page.split('id="invite-code">', 1)[1].split("<", 1)[0]
    with tenancy.db.session() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == base.split("/")[-1])).one()
        tenant_id: uuid.UUID = tenant.id
        tenant.status = "suspended"
    page = billed.get(f"{base}/dashboard")
    assert page.status_code == 403
    assert 'id="suspended-banner"' in page.text and "Pay in the billing portal" in page.text
    portal = _pay(billed, base, page.text)
    assert portal.status_code == 303 and portal.headers["location"].startswith(stripe.url)
    # Signed in again: the form answered 403 and set no session, and the page's button
    # then led back to the sign-in form (outside tester).
    fresh = TestClient(billed.app)
    assert signin(fresh, "owner@example.com").startswith(base)
    page = fresh.get(f"{base}/dashboard")
    assert page.status_code == 403 and "Pay in the billing portal" in page.text
    portal = _pay(fresh, base, page.text)
    assert portal.status_code == 303 and portal.headers["location"].startswith(stripe.url)

    member = TestClient(billed.app)
    with tenancy.db.session() as session:
        session.get(Tenant, tenant_id).status = "active"  # type: ignore[union-attr]
    signup(member, "admin@example.com", code)
    with tenancy.db.session() as session:
        session.get(Tenant, tenant_id).status = "suspended"  # type: ignore[union-attr]
    page = member.get(f"{base}/dashboard")
    assert page.status_code == 403 and 'id="suspended-banner"' in page.text
    assert _pay(member, base, page.text).status_code == 403


def test_the_buttons_say_upgrade_only_towards_a_dearer_plan(billed: TestClient) -> None:
    """A Pro household was offered "Upgrade to Household", a cheaper plan."""
    base = signup(billed, "pia@example.com")
    billed.app.state.tenancy.billing.provisioner.wait_idle()  # type: ignore[attr-defined]
    with billed.app.state.tenancy.db.session() as session:  # type: ignore[attr-defined]
        tenant = session.scalars(select(Tenant).where(Tenant.slug == base.rsplit("/", 1)[1])).one()
        tenant.plan = "pro"
        session.get(BillingAccount, tenant.id).status = "active"  # type: ignore[union-attr]
    page = billed.get(f"{base}/household").text
    assert 'data-plan="household">Change to Household</button>' in page
    assert "Upgrade to" not in page
