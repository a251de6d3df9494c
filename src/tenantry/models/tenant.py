"""Tenants: the unit of isolation (a household, a team, a company)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tenantry.ids import in_chunks
from tenantry.models.base import Base, utcnow


class TenantKind(StrEnum):
    PERSONAL = "personal"
    FAMILY = "family"
    BUSINESS = "business"


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"  # soft-deleted: restorable by an owner until ``purge_after``


class Tenant(Base):
    __tablename__ = "tenantry_tenants"
    __table_args__ = (
        Index("ix_tenantry_tenants_purge_after", "purge_after"),
        Index("ix_tenantry_tenants_created_at", "created_at", "id"),
        Index("ix_tenantry_tenants_name", "name", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default=TenantKind.PERSONAL.value)
    plan: Mapped[str] = mapped_column(String(32), default="free")
    # Set when the tenant moves to a plan with a trial (tenantry.plans.change_plan).
    trial_ends_at: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default=TenantStatus.ACTIVE.value)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    purge_after: Mapped[datetime | None] = mapped_column(default=None)


def existing_tenant_ids(session: Session, tenant_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``tenant_ids`` still in the tenants table: counters flushed after a purge
    drop the counts of tenants that are gone (a foreign key would refuse them)."""
    found: set[uuid.UUID] = set()
    for chunk in in_chunks(tenant_ids):
        found.update(session.scalars(select(Tenant.id).where(Tenant.id.in_(chunk))))
    return found
