"""operator console: tenant activity, indexes for the console's sorts and the audit filters

Revision ID: 0005_operator
Revises: 0001_core
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_operator"
down_revision: str | None = "0004_plans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenantry_tenant_activity",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("requests", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenantry_tenants.id"],
            name=op.f("fk_tenantry_tenant_activity_tenant_id_tenantry_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "period", name=op.f("pk_tenantry_tenant_activity")),
    )
    # Keyset paging of the console's sorts (slug already has its unique index).
    op.create_index("ix_tenantry_tenants_created_at", "tenantry_tenants", ["created_at", "id"])
    op.create_index("ix_tenantry_tenants_name", "tenantry_tenants", ["name", "id"])
    # Retention pruning and the platform-wide trail read by time.
    op.create_index("ix_tenantry_audit_events_created_at", "tenantry_audit_events", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_tenantry_audit_events_created_at", table_name="tenantry_audit_events")
    op.drop_index("ix_tenantry_tenants_name", table_name="tenantry_tenants")
    op.drop_index("ix_tenantry_tenants_created_at", table_name="tenantry_tenants")
    op.drop_table("tenantry_tenant_activity")
