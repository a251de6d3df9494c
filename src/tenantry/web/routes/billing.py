"""The billing API: Stripe's webhook, a tenant's billing state, Checkout and Portal links.

Mounted only when the host configured billing (``Tenancy(..., billing=...)``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from tenantry import plans
from tenantry.billing import Billing, BillingView
from tenantry.errors import ValidationFailed
from tenantry.web.deps import (
    DbSession,
    OwnerContext,
    SuspendedOwnerContext,
    ViewerContext,
    get_tenancy,
)
from tenantry.web.offload import in_thread

router = APIRouter(prefix="/api", tags=["billing"])


class WebhookOut(BaseModel):
    received: bool = True
    outcome: str


class BillingOut(BaseModel):
    plan: str
    status: str
    trial_ends_at: datetime | None
    trial_days_left: int | None
    next_invoice_at: datetime | None
    cancel_at_period_end: bool
    period_end: datetime | None
    grace_until: datetime | None

    @classmethod
    def of(cls, view: BillingView) -> BillingOut:
        return cls(
            plan=view.plan,
            status=view.status,
            trial_ends_at=view.trial_ends_at,
            trial_days_left=view.trial_days_left(),
            next_invoice_at=view.next_invoice_at,
            cancel_at_period_end=view.cancel_at_period_end,
            period_end=view.period_end,
            grace_until=view.grace_until,
        )


class CheckoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: str = Field(min_length=1, max_length=32)
    success_url: str | None = Field(default=None, max_length=2000)
    cancel_url: str | None = Field(default=None, max_length=2000)


class PortalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    return_url: str | None = Field(default=None, max_length=2000)


class RedirectOut(BaseModel):
    url: str


def _billing(request: Request) -> Billing:
    billing = get_tenancy(request).billing
    assert billing is not None  # the router is mounted only with billing
    return billing


def _own_url(request: Request, url: str | None, field: str) -> str:
    """A return address on this site (Stripe sends the customer there): never another one."""
    site = get_tenancy(request).mail.public_url  # the configured site, never the Host header
    if url is None:
        return site + "/"
    if url != site and not url.startswith(site + "/"):
        raise ValidationFailed(f"{field} must be an address on {site}", details={"field": field})
    return url


@router.post("/billing/webhook")
async def webhook(
    request: Request,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> WebhookOut:
    """Stripe's events, signature checked by the stripe library; 400 and no change if it fails.

    Idempotent by event id; an event older than the last applied changes nothing;
    an unknown customer's event is recorded and answered 200.
    """
    payload = await request.body()
    outcome = await in_thread(_billing(request).handle_webhook, payload, stripe_signature)
    return WebhookOut(outcome=outcome)


@router.get("/tenant/billing")
def tenant_billing(ctx: ViewerContext, request: Request, session: DbSession) -> BillingOut:
    """The tenant's plan, billing status, trial days left and next invoice date."""
    view = _billing(request).view(session, ctx.tenant_id)
    assert view is not None  # the context proved the tenant exists
    return BillingOut.of(view)


def refuse_unfit(session: Session, tenant_id: uuid.UUID, plan: str, request: Request) -> None:
    """A plan the tenant's current use exceeds is refused before the customer pays for it
    (409 ``plan_change_refused``, as the plan form). The read ends here: no lock is held
    while Stripe answers."""
    try:
        plans.check_fits(
            session, tenant_id=tenant_id, plan=plan, catalogue=get_tenancy(request).catalogue
        )
    finally:
        session.commit()


@router.post("/tenant/billing/checkout")
def checkout(
    body: CheckoutIn, ctx: OwnerContext, request: Request, session: DbSession
) -> RedirectOut:
    """A Stripe Checkout address for a paid plan (owners); the plan moves once Stripe says paid.
    A plan that current use exceeds is refused first (409 ``plan_change_refused``)."""
    refuse_unfit(session, ctx.tenant_id, body.plan, request)
    url = _billing(request).checkout_url(
        tenant_id=ctx.tenant_id,
        plan=body.plan,
        success_url=_own_url(request, body.success_url, "success_url"),
        cancel_url=_own_url(request, body.cancel_url, "cancel_url"),
    )
    return RedirectOut(url=url)


@router.post("/tenant/billing/portal")
def portal(
    ctx: SuspendedOwnerContext, request: Request, body: PortalIn | None = None
) -> RedirectOut:
    """A Customer Portal address (owners, even of a suspended tenant: that is where they pay).
    The body is optional: without ``return_url`` the portal returns to the billing page."""
    return_url = body.return_url if body is not None else None
    url = _billing(request).portal_url(
        tenant_id=ctx.tenant_id, return_url=_own_url(request, return_url, "return_url")
    )
    return RedirectOut(url=url)
