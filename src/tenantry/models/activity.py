"""Tenant activity: requests per tenant per month and when it was last active."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.models.base import Base


class TenantActivity(Base):
    """One row per tenant and period (``YYYY-MM``); workers add their counts to it."""

    __tablename__ = "tenantry_tenant_activity"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenantry_tenants.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    last_active_at: Mapped[datetime]
