"""Checkout for a plan the household outgrew is refused before the customer pays for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tenantry_server.app import create_app, default_plugins
from tenantry_server.settings import Settings
from tests.conftest import FAST_PASSWORDS, PASSWORD, invite_and_join, register
from tests.meterbook.pages.test_web_session import csrf, signup
from tests.support.stripe import PRICES, LocalStripe
from tests.tenantry.billing.conftest import billing_settings

SOLD = {"free": "price_free_monthly", **PRICES}  # Free is sold too: the smaller plan


@pytest.fixture
def app(settings: Settings, stripe: LocalStripe) -> Iterator[FastAPI]:
    prices = ",".join(f"{plan}={price}" for plan, price in SOLD.items())
    application = create_app(
        billing_settings(settings, stripe, stripe_prices=prices),
        default_plugins(),
        passwords=FAST_PASSWORDS,
    )
    yield application
    application.state.tenancy.db.dispose()


def test_a_checkout_for_a_plan_current_use_exceeds_is_refused(
    client: TestClient, stripe: LocalStripe
) -> None:
    alice = register(client, "alice@example.com", tenant_name="alice")
    invite_and_join(client, alice, "b@example.com")
    invite_and_join(client, alice, "c@example.com")  # 3 members; Free allows 2
    sessions = len(stripe.checkouts)
    refused = client.post(
        "/api/tenant/billing/checkout", json={"plan": "free"}, headers=alice.headers
    )
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "plan_change_refused"
    assert error["details"]["over"] == [
        {"limit": "members", "allowed": 2, "current": 3, "remove": 1}
    ]
    assert len(stripe.checkouts) == sessions  # Stripe was never asked
    fits = client.post("/api/tenant/billing/checkout", json={"plan": "pro"}, headers=alice.headers)
    assert fits.status_code == 200, fits.text


def test_the_household_page_says_what_must_go_before_a_smaller_plan(
    client: TestClient, stripe: LocalStripe
) -> None:
    base = signup(client, "lena@example.com")
    token = csrf(client.get(f"{base}/household").text)
    api = TestClient(client.app)  # the same household through the API, without cookies
    signed_in = api.post(
        "/api/auth/login", json={"email": "lena@example.com", "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    for n in range(2):
        code = api.post("/api/tenant/invites", json={"role": "member"}, headers=headers).json()
        register(api, f"m{n}@example.com", invite_code=code["code"])
    refused = client.post(
        f"{base}/household/billing/checkout",
        data={"plan": "free", "csrf_token": token},
        follow_redirects=False,
    )
    assert refused.status_code == 409
    assert "remove" in refused.text and "Traceback" not in refused.text
