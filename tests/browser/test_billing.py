"""Billing in Chromium against the local Stripe: trial, Checkout, a failed payment, the portal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tenantry.billing import Billing
from tests.browser.conftest import LIVE_APPS, serve
from tests.browser.steps import new_page, sign_up
from tests.support.mail import SmtpServer
from tests.support.stripe import API_KEY, PRICES, WEBHOOK_SECRET, LocalStripe, local_stripe

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def stripe() -> Iterator[LocalStripe]:
    with local_stripe() as server:
        yield server


@pytest.fixture(scope="module")
def billing_server(
    tmp_path_factory: pytest.TempPathFactory, mailbox: SmtpServer, stripe: LocalStripe
) -> Iterator[str]:
    """A live server with billing on; the local Stripe delivers its webhooks to it."""
    with serve(
        tmp_path_factory.mktemp("billing"),
        mailbox,
        stripe_api_key=API_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=stripe.url,
        stripe_prices=",".join(f"{plan}={price}" for plan, price in PRICES.items()),
    ) as url:
        stripe.webhook_url = f"{url}/api/billing/webhook"
        yield url
        stripe.webhook_url = None


def _billing(url: str) -> Billing:
    found: Billing | None = LIVE_APPS[url].state.tenancy.billing
    assert found is not None
    return found


def test_trial_checkout_failed_payment_and_the_portal(
    browser: Any,
    billing_server: str,
    mailbox: SmtpServer,
    stripe: LocalStripe,
    screenshots: Path,
) -> None:
    billing = _billing(billing_server)
    owner = new_page(browser, billing_server)
    sign_up(owner, mailbox, "billing-owner@example.com", household="Paying house")
    base = owner.url.removesuffix("/dashboard")
    assert billing.provisioner.wait_idle()

    # The trial started at sign-up: plan, days left, next invoice, the buttons.
    owner.goto(f"{base}/household")
    section = owner.locator("#billing")
    assert section.get_attribute("data-status") == "trialing"
    assert owner.inner_text("#billing-plan") == "Household"
    assert "14 days left" in owner.inner_text("#trial-left")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", owner.inner_text("#next-invoice"))
    assert owner.locator("#billing button[data-plan=pro]").inner_text() == "Upgrade to Pro"
    assert owner.locator("#portal button").count() == 1
    assert owner.locator("#change-plan").count() == 0  # plans are bought, not picked
    owner.screenshot(path=str(screenshots / "billing-trial.png"), full_page=True)

    # Checkout on Stripe's page; back on the household page the plan is Pro.
    owner.click("#billing button[data-plan=pro]")
    owner.wait_for_url(re.compile(r"/checkout/cs_"))
    owner.click("button[type=submit]")
    owner.wait_for_url(re.compile(r"/household\?msg=checkout"))
    assert "Stripe confirms the payment" in owner.inner_text(".notice")
    assert owner.inner_text("#billing-plan") == "Pro"
    assert owner.locator("#billing").get_attribute("data-status") == "active"
    assert owner.locator("#trial-left").count() == 0
    assert owner.inner_text("#next-invoice")

    # A renewal fails: a banner with the grace period's end; then the grace runs out.
    sub = next(s for s in stripe.subscriptions.values() if s["status"] == "active")
    stripe.payment_fails(sub["id"])
    owner.goto(f"{base}/household")
    assert "The last payment failed" in owner.inner_text("#payment-failed")
    billing.sweep(now=datetime.now(UTC) + timedelta(days=8))
    owner.goto(f"{base}/dashboard")
    assert "suspended" in owner.inner_text("#suspended-banner")
    owner.screenshot(path=str(screenshots / "billing-suspended.png"), full_page=True)

    # The owner pays in the portal; the household opens again.
    owner.click("#suspended-portal button")
    owner.wait_for_url(re.compile(r"/portal/cus_"))
    owner.click("text=Pay outstanding invoice")
    owner.wait_for_url(re.compile(r"/household$|/household#billing$"))
    assert owner.locator("#billing").get_attribute("data-status") == "active"
    assert owner.locator("#payment-failed").count() == 0
    owner.goto(f"{base}/dashboard")
    assert owner.locator("#suspended-banner").count() == 0
