"""meterbook's tenant-owned tables: prepaid vouchers and meter readings.

Quantities are stored as integers in their smallest unit (Wh, minor currency
units) so sums in SQL are exact on every backend; the API speaks decimals.
The author column is called ``user_id`` so a single-tenant database converted
by ``tenantry tenantize`` keeps its original column and values.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meterbook.domain.validation import check_imported_reading, check_imported_voucher
from tenantry.models import Base, TenantScoped, utcnow
from tenantry.plans import rows_limit


class Reading(TenantScoped, Base):
    """A meter reading: the cumulative value shown on the meter at a moment."""

    __tablename__ = "readings"
    __quota__ = rows_limit("readings")
    __import_check__ = staticmethod(check_imported_reading)
    # (read_at, id) is the order consumption is computed in (mb0003).
    __table_args__ = (Index("ix_readings_tenant_read_at_id", "tenant_id", "read_at", "id"),)

    read_at: Mapped[datetime]
    meter_wh: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, default="")
    is_replacement: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[int | None] = mapped_column(
        "user_id", Integer, ForeignKey("tenantry_users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Voucher(TenantScoped, Base):
    """A prepaid electricity purchase: money paid for energy credit."""

    __tablename__ = "vouchers"
    __quota__ = rows_limit("vouchers")
    __import_check__ = staticmethod(check_imported_voucher)
    __table_args__ = (Index("ix_vouchers_tenant_id_purchased_on", "tenant_id", "purchased_on"),)

    purchased_on: Mapped[date]
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="ZAR")
    energy_wh: Mapped[int] = mapped_column(BigInteger)
    token_number: Mapped[str] = mapped_column(String(64), default="")
    vendor: Mapped[str] = mapped_column(String(120), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(
        "user_id", Integer, ForeignKey("tenantry_users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
