"""Billing's errors: an unreachable Stripe, a webhook we refuse, a plan that is not sold."""

from __future__ import annotations

from tenantry.errors import TenantryError


class BillingUnavailable(TenantryError):
    """Stripe did not answer or refused the call; nothing was changed here."""

    code = "billing_unavailable"
    status = 503


class InvalidWebhook(TenantryError):
    """A webhook with a missing or wrong signature, a stale timestamp, or no event in it."""

    code = "invalid_signature"
    status = 400


class BillingNotSet(TenantryError):
    """Billing is configured, but this tenant has no Stripe customer yet (try again soon)."""

    code = "billing_pending"
    status = 409
