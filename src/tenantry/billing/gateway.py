"""The Stripe calls billing makes, through the official library only (no HTTP of our own).

Every create carries an idempotency key derived from the tenant, so a retry
after a timeout (by the sweep, or a second process) finds the first result
instead of making a second customer or subscription.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import stripe

from tenantry.billing.config import BillingConfig
from tenantry.billing.errors import BillingUnavailable, InvalidWebhook

log = logging.getLogger("tenantry.billing")

# How far ahead of this clock an event's ``created`` may be: Stripe's test clocks run
# ahead of ours (months, a year or two), a signed event from the year 5000 is forged.
FUTURE_SLACK = 3 * 366 * 24 * 3600


class StripeGateway:
    """One ``stripe.StripeClient`` and the few calls billing needs."""

    def __init__(self, config: BillingConfig) -> None:
        self.config = config
        self.client = stripe.StripeClient(
            config.api_key,
            base_addresses={"api": config.api_base} if config.api_base else None,
            max_network_retries=1,
        )

    def create_customer(self, *, tenant_id: uuid.UUID, email: str, name: str) -> str:
        """The customer of ``tenant_id`` (created once, whatever the retries); its id."""
        try:
            customer = self.client.v1.customers.create(
                params={"email": email, "name": name, "metadata": {"tenant_id": str(tenant_id)}},
                options={"idempotency_key": f"tenantry-customer-{tenant_id}"},
            )
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc
        return str(customer.id)

    def start_trial(
        self, *, tenant_id: uuid.UUID, customer_id: str, price_id: str, days: int
    ) -> dict[str, Any]:
        """A trialing subscription that ends (is canceled) if no card was added by then."""
        try:
            sub = self.client.v1.subscriptions.create(
                params={
                    "customer": customer_id,
                    "items": [{"price": price_id}],
                    "trial_period_days": days,
                    "trial_settings": {"end_behavior": {"missing_payment_method": "cancel"}},
                    "metadata": {"tenant_id": str(tenant_id)},
                },
                options={"idempotency_key": f"tenantry-trial-{tenant_id}"},
            )
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc
        return sub.to_dict()

    def cancel_at_period_end(self, *, subscription_id: str) -> None:
        """Stop renewing: the subscription ends when the paid period does."""
        try:
            self.client.v1.subscriptions.update(
                subscription_id, params={"cancel_at_period_end": True}
            )
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc

    def cancel_now(self, *, subscription_id: str) -> None:
        """End a subscription at once, crediting the unused time (``prorate``).

        One Stripe no longer knows, or has canceled already, is as good as done.
        """
        try:
            self.client.v1.subscriptions.cancel(subscription_id, params={"prorate": True})
        except stripe.InvalidRequestError:
            return
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc

    def checkout_url(
        self,
        *,
        tenant_id: uuid.UUID,
        customer_id: str,
        price_id: str,
        success_url: str,
        cancel_url: str,
    ) -> str:
        """A Checkout page where the customer subscribes to ``price_id``."""
        try:
            session = self.client.v1.checkout.sessions.create(
                params={
                    "mode": "subscription",
                    "customer": customer_id,
                    "client_reference_id": str(tenant_id),
                    "line_items": [{"price": price_id, "quantity": 1}],
                    "subscription_data": {"metadata": {"tenant_id": str(tenant_id)}},
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                }
            )
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc
        return str(session.url)

    def portal_url(self, *, customer_id: str, return_url: str) -> str:
        """A Customer Portal page: card, invoices, plan, cancellation."""
        try:
            session = self.client.v1.billing_portal.sessions.create(
                params={"customer": customer_id, "return_url": return_url}
            )
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc
        return str(session.url)

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event in ``payload``, once its ``Stripe-Signature`` is checked by the library.

        Raises:
            InvalidWebhook: no or a wrong signature, a timestamp outside the
                tolerance (a replay), or a body that is not an event.
        """
        try:
            event = self.client.construct_event(
                payload, signature, self.config.webhook_secret, self.config.tolerance
            )
        except stripe.SignatureVerificationError as exc:
            raise InvalidWebhook(f"webhook refused: {exc.user_message or exc}") from exc
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            # Signed, but not an object (``[]``, ``null``): the library trips on it.
            raise InvalidWebhook("webhook refused: the body is not a Stripe event") from exc
        if _signed_at(signature) > time.time() + self.config.tolerance:
            # The library refuses only the past side: a signature dated ahead would stay
            # valid (replayable) until that date.
            raise InvalidWebhook("webhook refused: the signature's timestamp is in the future")
        found = event.to_dict()
        data = found.get("data")
        if not (
            isinstance(found.get("id"), str)
            and isinstance(found.get("type"), str)
            and isinstance(found.get("created"), int)
            and isinstance(data, dict)
            and isinstance(data.get("object"), dict)
        ):
            raise InvalidWebhook("webhook refused: the body is not a Stripe event")
        if found["created"] > time.time() + FUTURE_SLACK:
            # Events are ordered by it: one from the far future would make every real
            # event after it stale, and the account's billing would stand still.
            raise InvalidWebhook("webhook refused: the event was created in the future")
        return found


def _signed_at(signature: str | None) -> int:
    """The ``t=`` of a ``Stripe-Signature`` header the library has accepted."""
    for item in (signature or "").split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            return int(value)
    return 0


# Stripe answered and said no: our key or our request is wrong, and a retry will not help.
_REFUSED = (stripe.AuthenticationError, stripe.PermissionError, stripe.InvalidRequestError)
# Whose messages name only our keys, never a customer's data (safe for the log).
_KEY_TROUBLE = (stripe.AuthenticationError, stripe.PermissionError)


def _unavailable(exc: stripe.StripeError) -> BillingUnavailable:
    """A Stripe failure in the API's terms: down (try again) or refused (fix the settings).

    A refusal is logged for the operator with Stripe's code and the parameter it named;
    its message only for key trouble (other messages may quote a customer's details).
    """
    kind = type(exc).__name__
    if not isinstance(exc, _REFUSED):
        return BillingUnavailable(
            "the payment provider could not be reached; nothing was changed, try again shortly",
            details={"stripe": kind},
        )
    log.warning(
        "billing: Stripe refused a call: %s (HTTP %s, code %s, param %s)%s",
        kind,
        exc.http_status,
        exc.code,
        getattr(exc, "param", None),
        f": {exc.user_message}" if isinstance(exc, _KEY_TROUBLE) else "",
    )
    return BillingUnavailable(
        "the payment provider refused the request (the site's billing settings need a look: "
        "its log says why); nothing was changed",
        details={"stripe": kind},
    )
