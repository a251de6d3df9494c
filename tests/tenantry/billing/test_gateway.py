"""Stripe refusing a call (a wrong key, an unknown price) is told apart from Stripe being down."""

from __future__ import annotations

import logging
import uuid

import pytest

from tenantry.billing import BillingConfig, BillingUnavailable, StripeGateway
from tests.support.stripe import WEBHOOK_SECRET, LocalStripe


def test_a_refused_call_says_refused_and_logs_stripes_reason(
    stripe: LocalStripe, caplog: pytest.LogCaptureFixture
) -> None:
    """A revoked key answered "could not be reached, try again shortly" on every sign-up and
    Checkout: the operator looked at the network instead of the key."""
    wrong = StripeGateway(BillingConfig("sk_test_revoked", WEBHOOK_SECRET, api_base=stripe.url))
    with (
        caplog.at_level(logging.WARNING, logger="tenantry.billing"),
        pytest.raises(BillingUnavailable) as refused,
    ):
        wrong.create_customer(tenant_id=uuid.uuid4(), email="a@example.com", name="A")
    assert "refused" in refused.value.message and "reached" not in refused.value.message
    assert refused.value.details == {"stripe": "AuthenticationError"}
    assert "Invalid API Key" in caplog.text  # Stripe's reason, for the operator only
    assert "Invalid API Key" not in refused.value.message

    stripe.down = True
    down = StripeGateway(BillingConfig("sk_test_local", WEBHOOK_SECRET, api_base=stripe.url))
    with pytest.raises(BillingUnavailable) as unreachable:
        down.create_customer(tenant_id=uuid.uuid4(), email="a@example.com", name="A")
    assert "could not be reached" in unreachable.value.message
