"""Billing: Stripe customers and subscriptions, a signed-webhook state machine, dunning.

Needs the ``billing`` extra (``pip install tenantry[billing]``, the official
``stripe`` library); the rest of tenantry never imports this package unless a
host configures billing. See docs/billing.md.
"""

from tenantry.billing.config import BillingConfig, parse_prices
from tenantry.billing.errors import BillingNotSet, BillingUnavailable, InvalidWebhook
from tenantry.billing.gateway import StripeGateway
from tenantry.billing.service import Billing, SweepResult
from tenantry.billing.state import apply_event
from tenantry.billing.view import BillingView, billing_view

__all__ = [
    "Billing",
    "BillingConfig",
    "BillingNotSet",
    "BillingUnavailable",
    "BillingView",
    "InvalidWebhook",
    "StripeGateway",
    "SweepResult",
    "apply_event",
    "billing_view",
    "parse_prices",
]
