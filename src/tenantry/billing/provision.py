"""Sign-up's half of billing: a new tenant gets a Stripe customer and its trial, retried until done.

The tenant is created exactly as without billing, plus a ``pending`` billing
row in the same transaction; Stripe is called only after that commit, from a
background thread. A Stripe failure leaves the tenant working on the default
plan with its row still pending, and the periodic sweep finishes it; the
idempotency keys make every retry find what an earlier attempt created.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, UOWTransaction

from tenantry.hooks import SessionFactory, listen
from tenantry.models import BillingAccount, Membership, Tenant, User
from tenantry.models.billing import FREE, PENDING
from tenantry.roles import Role

log = logging.getLogger("tenantry.billing")
_NEW = "tenantry.billing.new"


def owner_email(session: Session, tenant_id: uuid.UUID) -> str:
    """The first owner's address: Stripe's receipts and dunning mails go there."""
    stmt = (
        select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant_id, Membership.role == Role.OWNER.value)
        .order_by(Membership.joined_at)
    )
    return session.scalars(stmt).first() or ""


def had_subscription(session: Session, tenant_id: uuid.UUID) -> bool:
    """Whether an owner of ``tenant_id`` owns another tenant that has had a subscription
    (a trial included): a trial is for a person's first tenant, not for each they create."""
    mine = select(Membership.user_id).where(
        Membership.tenant_id == tenant_id, Membership.role == Role.OWNER.value
    )
    theirs = (
        select(BillingAccount.tenant_id)
        .join(Membership, Membership.tenant_id == BillingAccount.tenant_id)
        .where(
            Membership.user_id.in_(mine),
            Membership.role == Role.OWNER.value,
            BillingAccount.tenant_id != tenant_id,
            BillingAccount.status.not_in((PENDING, FREE)),
        )
        .limit(1)
    )
    return session.scalar(theirs) is not None


def install_pending_rows(
    sessions: SessionFactory, submit: Callable[[list[uuid.UUID]], None]
) -> None:
    """New tenants of ``sessions`` get a pending row; ``submit`` gets their ids on commit."""

    def after_flush(session: Session, context: UOWTransaction) -> None:
        # After the flush: the tenant rows exist, so the billing rows' foreign keys hold.
        new = [obj.id for obj in session.new if isinstance(obj, Tenant)]
        if new:
            session.connection().execute(
                insert(BillingAccount), [{"tenant_id": tenant_id} for tenant_id in new]
            )
            session.info.setdefault(_NEW, []).extend(new)

    def after_commit(session: Session) -> None:
        ids: list[uuid.UUID] = session.info.pop(_NEW, [])
        if ids:
            submit(ids)

    def after_rollback(session: Session) -> None:
        session.info.pop(_NEW, None)

    listen(sessions, "after_flush", after_flush)
    listen(sessions, "after_commit", after_commit)
    listen(sessions, "after_rollback", after_rollback)


class Provisioner:
    """One background thread: provisions submitted tenants, and sweeps every ``interval``."""

    def __init__(
        self,
        work: Callable[[uuid.UUID], object],
        sweep: Callable[[], object],
        *,
        interval: float,
    ) -> None:
        self._work, self._sweep, self._interval = work, sweep, interval
        self._queue: queue.Queue[uuid.UUID | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, tenant_ids: list[uuid.UUID]) -> None:
        for tenant_id in tenant_ids:
            self._queue.put(tenant_id)
        self.start()

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="tenantry-billing", daemon=True
                )
                self._thread.start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every submitted tenant was tried (tests, shutdown); True if in time."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._queue.all_tasks_done.wait(left)
        return True

    def close(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout=10)

    def _run(self) -> None:
        self._safely(self._sweep)
        while True:
            try:
                item = self._queue.get(timeout=self._interval)
            except queue.Empty:
                self._safely(self._sweep)
                continue
            try:
                if item is None:
                    return
                self._safely(self._work, item)
            finally:
                self._queue.task_done()

    @staticmethod
    def _safely(fn: Callable[..., object], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # the thread must outlive any one failure; the sweep retries
            log.exception("billing background work failed")
