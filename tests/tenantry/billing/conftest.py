"""A server with billing on, talking to the local Stripe (tests/support/stripe.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tenantry.billing import Billing
from tenantry_server.app import create_app, default_plugins
from tenantry_server.settings import Settings
from tests.conftest import FAST_PASSWORDS
from tests.support.stripe import API_KEY, PRICES, WEBHOOK_SECRET, LocalStripe, local_stripe


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[LocalStripe]:
    with local_stripe() as server:
        yield server


@pytest.fixture
def stripe(stripe_server: LocalStripe) -> Iterator[LocalStripe]:
    """The local Stripe, healthy, delivering nothing by itself (tests deliver its events)."""
    stripe_server.down = False
    stripe_server.webhook_url = None
    stripe_server.undelivered()  # events of earlier tests are not this test's
    yield stripe_server
    stripe_server.down = False


def billing_settings(settings: Settings, stripe: LocalStripe, **extra: Any) -> Settings:
    return settings.model_copy(
        update={
            "stripe_api_key": API_KEY,
            "stripe_webhook_secret": WEBHOOK_SECRET,
            "stripe_api_base": stripe.url,
            "stripe_prices": ",".join(f"{plan}={price}" for plan, price in PRICES.items()),
            "billing_grace_days": 7,
            **extra,
        }
    )


@pytest.fixture
def app(settings: Settings, stripe: LocalStripe) -> Iterator[FastAPI]:
    application = create_app(
        billing_settings(settings, stripe), default_plugins(), passwords=FAST_PASSWORDS
    )
    yield application
    application.state.tenancy.db.dispose()


@pytest.fixture
def billing(app: FastAPI) -> Billing:
    found: Billing | None = app.state.tenancy.billing
    assert found is not None
    return found


def deliver(client: TestClient, stripe: LocalStripe, events: list[dict[str, Any]]) -> list[str]:
    """POST each event to the webhook as Stripe would; their outcomes."""
    outcomes = []
    for event in events:
        answer = stripe.deliver(
            event,
            post=lambda body, headers: client.post(
                "/api/billing/webhook", content=body, headers=headers
            ),
        )
        assert answer.status_code == 200, answer.text
        outcomes.append(answer.json()["outcome"])
    return outcomes
