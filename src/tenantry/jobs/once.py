"""Once per key per tenant: a job records, in its own transaction, that its work committed,
so a job delivered again (jobs run at least once) finds the record instead of working twice.

The record is an audit event of the job's tenant (:data:`ACTION`, target ``job:<key>``,
the job's result in its details). The trail already holds what a tenant's jobs changed and
is written in the unit of work of the change, so the record commits with the work or not at
all, and no table of its own is needed. A second delivery reads the result back: it can say
what the first one did (a row count) rather than fail on the rows already there.

Two deliveries at once wait for each other: on PostgreSQL a transaction-level advisory lock
on the key is taken before looking; on SQLite a writing transaction holds the database's
write lock from its start (``BEGIN IMMEDIATE``), so transactions that write run one at a time.

A tenant in a database of its own (:mod:`tenantry.placement`) has its rows there and its
trail in the control database: the two commit one after the other, not as one, so a crash
between those two commits can still let the work run twice (or be reported done without
it), as for every other audit event of such a tenant.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenantry import audit
from tenantry.advisory_locks import LockSpace, xact_lock
from tenantry.context import TenantContext
from tenantry.models import AuditEvent

ACTION = "job.done"
_TARGET = "job:"


def _target(key: str) -> str:
    target = _TARGET + key
    if not key or len(target) > 200:  # AuditEvent.target's length
        raise ValueError(f"a job's once-key must be 1 to {200 - len(_TARGET)} characters")
    return target


def done_before(session: Session, ctx: TenantContext, key: str) -> dict[str, Any] | None:
    """The result recorded for ``key`` in ``ctx``'s tenant by an earlier run, or ``None``.

    Call it first in the job's transaction, before any work: on PostgreSQL it waits for
    another run of the same key to end, and the lock is held until this transaction ends.

    Args:
        session: the job's session (its transaction is the one the work commits in).
        ctx: the job's tenant context; only this tenant's records are looked at.
        key: what makes the job's work unique in its tenant (an import's id).

    Returns:
        The details :func:`record_done` stored, or ``None`` when no run committed.
    """
    target = _target(key)
    xact_lock(session.connection(), LockSpace.JOB_ONCE, ctx.tenant_id, key)
    found = session.scalars(
        select(AuditEvent.details)
        .where(
            AuditEvent.tenant_id == ctx.tenant_id,
            AuditEvent.action == ACTION,
            AuditEvent.target == target,
        )
        .limit(1)
    ).first()
    return None if found is None else dict(found)


def record_done(session: Session, ctx: TenantContext, key: str, **result: Any) -> None:
    """Record that the work of ``key`` is done, with ``result`` (JSON values), in the job's
    transaction: it commits with the work, and :func:`done_before` returns ``result``."""
    audit.record(
        session,
        ACTION,
        tenant_id=ctx.tenant_id,
        actor_id=ctx.user_id,
        target=_target(key),
        **result,
    )
