"""Refresh tokens: rotating, revocable, stored only as hashes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.models.base import Base, utcnow


class RefreshToken(Base):
    """One link of a rotation chain; reusing a rotated token revokes its whole family."""

    __tablename__ = "tenantry_refresh_tokens"
    __table_args__ = (Index("ix_tenantry_refresh_tokens_family", "family_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[uuid.UUID]
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenantry_users.id", ondelete="CASCADE")
    )
    # None: a session of a person who belongs to no tenant (yet, or any more).
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenantry_tenants.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
