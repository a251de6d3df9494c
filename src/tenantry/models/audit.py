"""Audit events: who changed what in which tenant, and when."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.models.base import Base, utcnow


class AuditEvent(Base):
    __tablename__ = "tenantry_audit_events"
    __table_args__ = (
        Index("ix_tenantry_audit_events_tenant_id", "tenant_id", "created_at"),
        Index("ix_tenantry_audit_events_actor_id", "actor_id"),
        Index("ix_tenantry_audit_events_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    # No foreign key: the trail of a deleted tenant outlives it.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    actor_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("tenantry_users.id", ondelete="SET NULL"), default=None
    )
    # Set when the actor erased their account: the same person, no longer named.
    actor_pseudonym: Mapped[str | None] = mapped_column(String(40), default=None)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
