"""The audit trail: recording events, reading them with filters, pruning and erasure.

Every membership, role, invite and tenant change, sign-ins, session
revocations, exports, imports and (see :mod:`tenantry.row_audit`) writes to
tenant rows are recorded in the same unit of work as the change.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tenantry.ids import is_user_id
from tenantry.mail.notices import note_membership_change
from tenantry.models import AuditEvent
from tenantry.read_only import defer_write


def record(
    session: Session,
    action: str,
    *,
    tenant_id: uuid.UUID | None,
    actor_id: int | None,
    target: str | None = None,
    **details: Any,
) -> None:
    """Add an audit event to the session's unit of work (it commits with the change).

    Membership changes are also noted for the owners' notice mails (``tenantry.mail``).
    In a read-only session (a download, a view) the event is written after the
    read commits, in a transaction of its own (:func:`tenantry.read_only.defer_write`).
    """
    note_membership_change(
        session, action, tenant_id=tenant_id, actor_id=actor_id, target=target, **details
    )
    event = AuditEvent(
        tenant_id=tenant_id, actor_id=actor_id, action=action, target=target, details=details
    )
    if not defer_write(session, event):
        session.add(event)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What a reader of one tenant's trail may narrow it by; all optional."""

    action: str | None = None
    actor_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def events(
    session: Session,
    tenant_id: uuid.UUID | None,
    where: AuditFilter = AuditFilter(),
    *,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEvent]:
    """The newest events of ``tenant_id`` (``None``: the platform's own) matching ``where``.

    Pages by id: pass the last event's id as ``before_id`` for the next page.
    Only this tenant's events can come back: the tenant is always in the query.
    """
    stmt = select(AuditEvent).where(
        AuditEvent.tenant_id.is_(None) if tenant_id is None else AuditEvent.tenant_id == tenant_id
    )
    if where.action:
        # "member" matches "member.added", "member.removed", ...: a prefix of whole words.
        stmt = stmt.where(
            (AuditEvent.action == where.action)
            | AuditEvent.action.startswith(where.action.rstrip(".") + ".", autoescape=True)
        )
    if where.actor_id is not None:
        if not is_user_id(where.actor_id):
            return []  # no account has it; PostgreSQL would refuse to compare with it
        stmt = stmt.where(AuditEvent.actor_id == where.actor_id)
    if where.since is not None:
        stmt = stmt.where(AuditEvent.created_at >= where.since)
    if where.until is not None:
        stmt = stmt.where(AuditEvent.created_at < where.until)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    return list(session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit)))


def iter_events(
    session: Session, tenant_id: uuid.UUID, where: AuditFilter = AuditFilter(), batch: int = 500
) -> Iterator[AuditEvent]:
    """Every matching event, newest first, read in batches (for CSV downloads)."""
    before: int | None = None
    while True:
        chunk = events(session, tenant_id, where, before_id=before, limit=batch)
        yield from chunk
        if len(chunk) < batch:
            return
        before = chunk[-1].id


def prune(session: Session, *, older_than: timedelta, now: datetime, apply: bool) -> int:
    """Delete (or, without ``apply``, count) the events older than the retention period."""
    cutoff = now - older_than
    if not apply:
        stmt = select(func.count()).select_from(AuditEvent).where(AuditEvent.created_at < cutoff)
        return session.scalar(stmt) or 0
    result = session.execute(delete(AuditEvent).where(AuditEvent.created_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]
