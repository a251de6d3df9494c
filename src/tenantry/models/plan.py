"""Per-tenant plan overrides and flushed usage counters (control-plane tables)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.models.base import Base, utcnow


class PlanOverride(Base):
    """One limit or feature granted to (or taken from) one tenant, over its plan.

    ``name`` is a limit name (``members``, ``rows.readings``) or ``feature:<flag>``.
    For a limit, ``value`` is the allowance (NULL = unlimited); for a feature,
    1 grants it and 0 takes it away.
    """

    __tablename__ = "tenantry_plan_overrides"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenantry_tenants.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(96), primary_key=True)
    value: Mapped[int | None] = mapped_column(BigInteger, default=None)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("tenantry_users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageCounter(Base):
    """A metered quantity of one tenant in one billing period, added to by each flush."""

    __tablename__ = "tenantry_usage"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenantry_tenants.id", ondelete="CASCADE"), primary_key=True
    )
    period_start: Mapped[date] = mapped_column(primary_key=True)
    metric: Mapped[str] = mapped_column(String(96), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
