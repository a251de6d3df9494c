"""Tenant deletion in two steps: soft (restorable for a grace period), then purge (final)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tenantry import audit
from tenantry.errors import Conflict, TenantNotFound, ValidationFailed
from tenantry.ids import is_user_id
from tenantry.models import AuditEvent, Membership, Tenant, TenantStatus
from tenantry.roles import Role
from tenantry.tenants import check_owned_limit

DEFAULT_GRACE = timedelta(days=30)
PURGED = "tenant.purged"


def _get(session: Session, tenant_id: uuid.UUID) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise TenantNotFound("tenant not found")
    return tenant


def delete_tenant(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    actor_id: int | None,
    confirm: str,
    grace: timedelta = DEFAULT_GRACE,
) -> Tenant:
    """Mark a tenant deleted: its members lose access at once; an owner may restore it.

    Args:
        confirm: the tenant's slug or its exact name, typed by the person deleting.
        grace: how long it stays restorable before :func:`purge_expired` removes it.

    Raises:
        ValidationFailed: ``confirm`` does not repeat the slug or the name.
    """
    tenant = _get(session, tenant_id)
    if confirm.strip() not in (tenant.slug, tenant.name):
        raise ValidationFailed(
            "type the tenant's name (or its slug) to confirm deletion",
            details={"field": "confirm"},
        )
    now = datetime.now(UTC)
    tenant.status = TenantStatus.DELETED.value
    tenant.deleted_at = now
    tenant.purge_after = now + grace
    audit.record(
        session,
        "tenant.deleted",
        tenant_id=tenant_id,
        actor_id=actor_id,
        purge_after=tenant.purge_after.isoformat(),
    )
    session.flush()
    return tenant


def restorable(session: Session, user_id: int) -> list[Tenant]:
    """The deleted tenants ``user_id`` owns and may still restore, soonest purge first."""
    return list(
        session.scalars(
            select(Tenant)
            .join(Membership, Membership.tenant_id == Tenant.id)
            .where(
                Membership.user_id == user_id,
                Membership.role == Role.OWNER.value,
                Tenant.status == TenantStatus.DELETED.value,
                Tenant.purge_after > datetime.now(UTC),
            )
            .order_by(Tenant.purge_after)
        )
    )


def restore_tenant(
    session: Session, *, tenant_id: uuid.UUID, user_id: int, owned_limit: int | None = None
) -> Tenant:
    """Undo :func:`delete_tenant`; only an owner, within the grace period, and not past
    ``owned_limit`` tenants owned (delete, create, restore would pass it otherwise).

    Raises:
        TenantNotFound: no such deleted tenant owned by ``user_id`` (one answer for all).
        Conflict: the tenant is not deleted. TooManyTenants: ``user_id`` owns enough.
    """
    membership = session.get(Membership, (tenant_id, user_id)) if is_user_id(user_id) else None
    tenant = session.get(Tenant, tenant_id)
    if tenant is None or membership is None or membership.role != Role.OWNER.value:
        raise TenantNotFound("tenant not found")
    if tenant.status != TenantStatus.DELETED.value:
        raise Conflict("this tenant is not deleted")
    if tenant.purge_after is None or tenant.purge_after <= datetime.now(UTC):
        raise TenantNotFound("tenant not found")  # past its grace period: as good as purged
    if owned_limit is not None:
        check_owned_limit(session, user_id, owned_limit)
    tenant.status = TenantStatus.ACTIVE.value
    tenant.deleted_at = None
    tenant.purge_after = None
    audit.record(session, "tenant.restored", tenant_id=tenant_id, actor_id=user_id)
    session.flush()
    return tenant


@dataclass(frozen=True, slots=True)
class Purged:
    tenant_id: uuid.UUID
    deleted_at: datetime | None


def purge_tenant(session: Session, tenant: Tenant) -> Purged:
    """Remove a tenant and everything of it, leaving one pseudonymous audit record.

    Its tenant tables, memberships, invites and refresh tokens go by the foreign
    keys' ``ON DELETE CASCADE``; its audit events are deleted here. What remains
    is a ``tenant.purged`` event naming only the tenant's random id and dates.
    """
    gone = Purged(tenant.id, tenant.deleted_at)
    session.execute(
        delete(AuditEvent)
        .where(AuditEvent.tenant_id == tenant.id)
        .execution_options(synchronize_session=False)
    )
    session.delete(tenant)
    session.flush()
    audit.record(
        session,
        PURGED,
        tenant_id=gone.tenant_id,
        actor_id=None,
        deleted_at=gone.deleted_at.isoformat() if gone.deleted_at else None,
    )
    return gone


def end_grace(session: Session, slug: str) -> Tenant:
    """End a deleted tenant's grace period now (an erasure that must not wait): the next
    :func:`purge_expired` removes it.

    Raises:
        TenantNotFound: no tenant has ``slug``.
        ValidationFailed: the tenant is not deleted (delete it first: its owner confirms).
    """
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise TenantNotFound(f"no tenant has the slug {slug!r}")
    if tenant.status != TenantStatus.DELETED.value:
        raise ValidationFailed(
            f"tenant {slug!r} is not deleted: delete it first (its owner confirms), then purge"
        )
    tenant.purge_after = datetime.now(UTC)
    session.flush()
    return tenant


def purge_expired(session: Session, *, now: datetime | None = None) -> list[Purged]:
    """Purge every deleted tenant whose grace period is over; for a periodic task.

    The caller commits (one transaction for the batch); ``tenantry tenants purge``
    does this.
    """
    return [purge_tenant(session, tenant) for tenant in due_for_purge(session, now=now)]


def due_for_purge(session: Session, *, now: datetime | None = None) -> list[Tenant]:
    """The deleted tenants whose grace period is over at ``now``."""
    moment = now or datetime.now(UTC)
    return list(
        session.scalars(
            select(Tenant).where(
                Tenant.status == TenantStatus.DELETED.value, Tenant.purge_after <= moment
            )
        )
    )
