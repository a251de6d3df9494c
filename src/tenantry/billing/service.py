"""``Billing``: the one object a host holds to sell its plans through Stripe."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tenantry import audit
from tenantry.billing.config import BillingConfig
from tenantry.billing.errors import BillingUnavailable
from tenantry.billing.gateway import StripeGateway
from tenantry.billing.provision import (
    Provisioner,
    had_subscription,
    install_pending_rows,
    owner_email,
)
from tenantry.billing.state import (
    LIVE,
    apply_event,
    apply_subscription,
    end_grace,
)
from tenantry.billing.view import BillingView, billing_view
from tenantry.db import Database
from tenantry.errors import TenantNotFound, ValidationFailed
from tenantry.hooks import SessionFactory
from tenantry.models import BillingAccount, BillingEvent, Tenant, TenantStatus
from tenantry.models.billing import FREE, PENDING
from tenantry.plans import Catalogue
from tenantry.platform_admins import is_operations_tenant

log = logging.getLogger("tenantry.billing")


@dataclass(frozen=True, slots=True)
class SweepResult:
    provisioned: int
    suspended: int
    canceled: int = 0
    replaced: int = 0


class Billing:
    """Stripe customers and subscriptions for the tenants of ``db``.

    Args:
        db: the database (billing writes its own short transactions).
        config: keys, the price → plan map, grace, tolerance.
        catalogue: the plans; a price naming an unknown plan is refused here.
        gateway: the Stripe calls (default: the official library with ``config``).

    Raises:
        CatalogueError: the price map names a plan the catalogue does not have.
    """

    def __init__(
        self,
        db: Database,
        config: BillingConfig,
        catalogue: Catalogue,
        *,
        gateway: StripeGateway | None = None,
    ) -> None:
        config.check(catalogue)
        self.db = db
        self.config = config
        self.catalogue = catalogue
        self.gateway = gateway or StripeGateway(config)
        self.provisioner = Provisioner(self.provision, self.sweep, interval=config.sweep_seconds)

    def install(self, sessions: SessionFactory) -> None:
        """New tenants of ``sessions`` get a pending row and are provisioned after commit."""
        install_pending_rows(sessions, self.provisioner.submit)

    def start(self) -> None:
        self.provisioner.start()

    def close(self) -> None:
        self.provisioner.close()

    # Sign-up

    def provision(self, tenant_id: uuid.UUID) -> bool:
        """Create the tenant's customer and trial if still pending; True once it is not pending.

        Stripe is called outside any transaction (no lock is held meanwhile); a
        failure is noted on the row and left for the sweep.
        """
        with self.db.session() as session:
            account = session.get(BillingAccount, tenant_id)
            tenant = session.get(Tenant, tenant_id)
            if account is None or tenant is None or account.status != PENDING:
                return account is not None
            if tenant.status == TenantStatus.DELETED.value:
                return False
            if is_operations_tenant(session, tenant):  # an operator's, not a customer's
                account.status = FREE
                return True
            customer_id, email, name = (
                account.customer_id,
                owner_email(session, tenant_id),
                tenant.name,
            )
            again = had_subscription(session, tenant_id)
        trial = None if again else self.config.trial_of(self.catalogue)
        try:
            if customer_id is None:
                customer_id = self.gateway.create_customer(
                    tenant_id=tenant_id, email=email, name=name
                )
                with self.db.session() as session:
                    account = self._locked(session, tenant_id)
                    account.customer_id = account.customer_id or customer_id
            sub = None
            if trial is not None:
                sub = self.gateway.start_trial(
                    tenant_id=tenant_id,
                    customer_id=customer_id,
                    price_id=self.config.prices[trial.name],
                    days=trial.trial_days,
                )
        except BillingUnavailable as exc:
            with self.db.session() as session:
                account = self._locked(session, tenant_id)
                account.attempts += 1
                account.last_error = exc.message[:200]
            log.warning("billing: tenant %s not provisioned yet: %s", tenant_id, exc.message)
            return False
        with self.db.session() as session:
            account = self._locked(session, tenant_id)
            if account.status == PENDING:
                if sub is None:
                    account.status = FREE
                else:
                    apply_subscription(
                        session,
                        account,
                        sub,
                        config=self.config,
                        catalogue=self.catalogue,
                        now=datetime.now(UTC),
                    )
                audit.record(
                    session,
                    "billing.provisioned",
                    tenant_id=tenant_id,
                    actor_id=None,
                    target=f"stripe:{customer_id}",
                    status=account.status,
                )
        return True

    def sweep(self, now: datetime | None = None) -> SweepResult:
        """Retry pending sign-ups and suspend tenants whose grace period is over."""
        with self.db.session() as session:
            pending = list(
                session.scalars(
                    select(BillingAccount.tenant_id).where(BillingAccount.status == PENDING)
                )
            )
        provisioned = sum(1 for tenant_id in pending if self.provision(tenant_id))
        with self.db.session() as session:
            suspended = end_grace(session, now=now or datetime.now(UTC))
        return SweepResult(provisioned, suspended, self.stop_deleted(), self.cancel_replaced())

    def cancel_replaced(self) -> int:
        """Cancel at Stripe the subscriptions a newer one replaced; returns how many.

        A tenant that paid a Checkout while another subscription was live would
        otherwise be charged twice. Called by the sweep, outside any webhook's
        transaction, so a Stripe outage only delays it.
        """
        with self.db.session() as session:
            found = [
                (tenant_id, sub_id)
                for tenant_id, subs in session.execute(
                    select(BillingAccount.tenant_id, BillingAccount.superseded).where(
                        BillingAccount.superseded.is_not(None)
                    )
                )
                for sub_id in subs or ()
            ]
        done = 0
        for tenant_id, subscription_id in found:
            try:
                self.gateway.cancel_now(subscription_id=subscription_id)
            except BillingUnavailable:
                continue  # the next sweep tries again
            with self.db.session() as session:
                account = self._locked(session, tenant_id)
                left = [s for s in account.superseded or () if s != subscription_id]
                account.superseded = left or None
                audit.record(
                    session,
                    "billing.subscription_replaced",
                    tenant_id=tenant_id,
                    actor_id=None,
                    target=f"stripe:{subscription_id}",
                    by=account.subscription_id,
                )
            done += 1
        return done

    def stop_deleted(self) -> int:
        """Deleted tenants stop renewing (cancel at period end); returns how many were told.

        A restored tenant's owner resumes the subscription in the Customer Portal.
        """
        with self.db.session() as session:
            found = session.execute(
                select(BillingAccount.tenant_id, BillingAccount.subscription_id)
                .join(Tenant, Tenant.id == BillingAccount.tenant_id)
                .where(
                    Tenant.status == TenantStatus.DELETED.value,
                    BillingAccount.subscription_id.is_not(None),
                    BillingAccount.status.in_(LIVE),
                    BillingAccount.cancel_at_period_end.is_(False),
                )
            ).all()
        told = 0
        for tenant_id, subscription_id in found:
            try:
                self.gateway.cancel_at_period_end(subscription_id=str(subscription_id))
            except BillingUnavailable:
                continue  # the next sweep tries again
            with self.db.session() as session:
                account = self._locked(session, tenant_id)
                account.cancel_at_period_end = True
                audit.record(
                    session,
                    "billing.renewal_stopped",
                    tenant_id=tenant_id,
                    actor_id=None,
                    target=f"stripe:{subscription_id}",
                    reason="tenant deleted",
                )
            told += 1
        return told

    # Webhooks

    def handle_webhook(self, payload: bytes, signature: str | None) -> str:
        """Verify and apply one webhook in one transaction; returns the outcome.

        Raises:
            InvalidWebhook: the signature is missing, wrong or too old (nothing changed).
        """
        event = self.gateway.verify(payload, signature)
        try:
            with self.db.session() as session:
                return apply_event(session, event, config=self.config, catalogue=self.catalogue)
        except IntegrityError:
            # The same event delivered twice at once: the other delivery applied it.
            with self.db.session() as session:
                if session.get(BillingEvent, str(event["id"])) is None:
                    raise
            return "duplicate"

    # Owners' pages

    def view(self, session: Session, tenant_id: uuid.UUID) -> BillingView | None:
        return billing_view(session, tenant_id)

    def checkout_url(
        self, *, tenant_id: uuid.UUID, plan: str, success_url: str, cancel_url: str
    ) -> str:
        """A Stripe Checkout page selling ``plan`` to the tenant.

        Raises:
            ValidationFailed: ``plan`` is not sold; BillingUnavailable: Stripe failed.
        """
        price = self.config.prices.get(plan)
        if price is None:
            raise ValidationFailed(
                f"choose a paid plan: {', '.join(self.config.prices)}", details={"field": "plan"}
            )
        return self.gateway.checkout_url(
            tenant_id=tenant_id,
            customer_id=self.ensure_customer(tenant_id),
            price_id=price,
            success_url=success_url,
            cancel_url=cancel_url,
        )

    def portal_url(self, *, tenant_id: uuid.UUID, return_url: str) -> str:
        """A Customer Portal page (card, invoices, cancel) for the tenant's customer."""
        return self.gateway.portal_url(
            customer_id=self.ensure_customer(tenant_id), return_url=return_url
        )

    def ensure_customer(self, tenant_id: uuid.UUID) -> str:
        """The tenant's Stripe customer, created now for a tenant from before billing."""
        with self.db.session() as session:
            tenant = session.get(Tenant, tenant_id)
            if tenant is None:
                raise TenantNotFound("tenant not found")
            account = session.get(BillingAccount, tenant_id)
            if account is not None and account.customer_id:
                return account.customer_id
            email, name = owner_email(session, tenant_id), tenant.name
        customer_id = self.gateway.create_customer(tenant_id=tenant_id, email=email, name=name)
        with self.db.session() as session:
            account = session.get(BillingAccount, tenant_id, with_for_update=True)
            if account is None:
                account = BillingAccount(tenant_id=tenant_id, status=FREE)
                session.add(account)
            account.customer_id = account.customer_id or customer_id
            return account.customer_id

    @staticmethod
    def _locked(session: Session, tenant_id: uuid.UUID) -> BillingAccount:
        account = session.get(BillingAccount, tenant_id, with_for_update=True)
        assert account is not None  # rows are only deleted with their tenant
        return account
