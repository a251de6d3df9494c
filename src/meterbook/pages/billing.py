"""The household's billing: its section on the household page, Checkout and the Customer Portal.

Shown only when the server has billing configured. The buttons post here and
are sent on to Stripe's own pages; the plan changes when Stripe's webhook says
the payment went through, never on the way back from Checkout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from meterbook.pages.csrf import check_csrf
from meterbook.pages.deps import FormFields, see_other
from tenantry import tenants
from tenantry.billing import Billing, BillingUnavailable
from tenantry.context import TenantContext
from tenantry.plans import Plan, check_fits
from tenantry.web import DbSession, OwnerContext, SuspendedOwnerContext, get_tenancy

router = APIRouter(
    dependencies=[Depends(check_csrf)], tags=["meterbook pages"], include_in_schema=False
)
# Where Stripe's hosted pages live; a form may be sent on there (Content-Security-Policy).
STRIPE_PAGES = ("https://checkout.stripe.com", "https://billing.stripe.com")


def billing_of(request: Request) -> Billing | None:
    billing: Billing | None = get_tenancy(request).billing
    return billing


def form_targets(request: Request) -> tuple[str, ...]:
    """The origins billing's buttons lead to, for the page's ``form-action``."""
    billing = billing_of(request)
    if billing is None:
        return ()
    local = billing.config.api_base
    if local:  # a Stripe stand-in (tests, a proxy): its pages are on its own origin
        parts = urlsplit(local)
        return (*STRIPE_PAGES, f"{parts.scheme}://{parts.netloc}")
    return STRIPE_PAGES


@dataclass(frozen=True, slots=True)
class BillingSection:
    status: str
    plan: Plan
    trial_days_left: int | None
    trial_ends_at: datetime | None
    next_invoice_at: datetime | None
    period_end: datetime | None
    cancel_at_period_end: bool
    grace_until: datetime | None
    offers: list[Plan]
    portal: bool
    # Each offer's button: "Subscribe to" the plan held, "Upgrade to" a dearer one, "Change
    # to" a cheaper one (the catalogue is cheapest first).
    verbs: dict[str, str] = field(default_factory=dict)


def billing_section(
    request: Request, session: DbSession, ctx: TenantContext
) -> BillingSection | None:
    """The template values of the section (``billing`` in household.html); ``None``: no billing."""
    billing = billing_of(request)
    if billing is None:
        return None
    view = billing.view(session, ctx.tenant_id)
    assert view is not None  # the context proved the tenant exists
    catalogue = billing.catalogue
    paying = view.status in ("active", "past_due") and not view.cancel_at_period_end
    offers = [
        catalogue.get(name)
        for name in billing.config.prices
        if catalogue.find(name) is not None and not (paying and name == view.plan)
    ]
    names = catalogue.names
    rank = names.index(view.plan) if view.plan in names else -1
    verbs = {
        p.name: "Subscribe to"
        if p.name == view.plan
        else ("Upgrade to" if names.index(p.name) > rank else "Change to")
        for p in offers
    }
    return BillingSection(
        status=view.status,
        plan=catalogue.get(view.plan),
        trial_days_left=view.trial_days_left(),
        trial_ends_at=view.trial_ends_at,
        next_invoice_at=view.next_invoice_at,
        period_end=view.period_end,
        cancel_at_period_end=view.cancel_at_period_end,
        grace_until=view.grace_until,
        offers=offers,
        portal=view.has_customer,
        verbs=verbs,
    )


def _household_path(request: Request, ctx: TenantContext) -> str:
    """The household page's path, read apart from the request's session.

    These routes call Stripe: the request's (writing) session stays unused so
    that no database lock is held while Stripe answers.
    """
    tenancy = get_tenancy(request)
    with tenancy.db.read_sessions() as session:
        slug = tenants.get_tenant(session, ctx.tenant_id).slug
    return f"/t/{slug}/household"


def _absolute(request: Request, path: str) -> str:
    """Stripe sends the customer back to an absolute address on this site."""
    return get_tenancy(request).mail.public_url + path


@router.post("/household/billing/checkout")
def checkout(
    request: Request, ctx: OwnerContext, fields: FormFields, session: DbSession
) -> Response:
    """Send the owner to Stripe Checkout for the chosen plan (not one the household outgrew:
    the error page says what must go first)."""
    plan = fields.get("plan", "")[:32]
    billing = billing_of(request)
    back = _household_path(request, ctx)
    if billing is None:
        return see_other(back)
    try:  # a plan the household outgrew is refused before the owner pays for it
        check_fits(session, tenant_id=ctx.tenant_id, plan=plan, catalogue=billing.catalogue)
    finally:
        session.commit()  # the read ends here: no lock is held while Stripe answers
    try:
        url = billing.checkout_url(
            tenant_id=ctx.tenant_id,
            plan=plan,
            success_url=_absolute(request, f"{back}?msg=checkout#billing"),
            cancel_url=_absolute(request, f"{back}#billing"),
        )
    except BillingUnavailable:
        return see_other(f"{back}?msg=billing_unavailable#billing")
    return see_other(url)


@router.post("/household/billing/portal")
def portal(request: Request, ctx: SuspendedOwnerContext) -> Response:
    """Send the owner to Stripe's Customer Portal (also from a suspended household's page)."""
    billing = billing_of(request)
    back = _household_path(request, ctx)
    if billing is None:
        return see_other(back)
    try:
        url = billing.portal_url(
            tenant_id=ctx.tenant_id, return_url=_absolute(request, f"{back}#billing")
        )
    except BillingUnavailable:
        return see_other(f"{back}?msg=billing_unavailable#billing")
    return see_other(url)


def suspended_context(request: Request) -> dict[str, Any]:
    """What the suspended page offers: the portal button when billing is on."""
    return {"billing_on": billing_of(request) is not None}
