"""meterbook: row-level security on readings and vouchers (PostgreSQL; no-op on SQLite).

Revision ID: mb0002
Revises: mb0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from tenantry.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "mb0002"
down_revision: str | None = "mb0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    enable_tenant_rls("readings")
    enable_tenant_rls("vouchers")


def downgrade() -> None:
    disable_tenant_rls("vouchers")
    disable_tenant_rls("readings")
