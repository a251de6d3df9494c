"""plans: per-tenant overrides, usage counters, trial end

Revision ID: 0004_plans
Revises: 0001_core
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_plans"
down_revision: str | None = "0003_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenantry_plan_overrides",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=96), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["tenantry_users.id"],
            name=op.f("fk_tenantry_plan_overrides_created_by_tenantry_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenantry_tenants.id"],
            name=op.f("fk_tenantry_plan_overrides_tenant_id_tenantry_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "name", name=op.f("pk_tenantry_plan_overrides")),
    )
    op.create_table(
        "tenantry_usage",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=96), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenantry_tenants.id"],
            name=op.f("fk_tenantry_usage_tenant_id_tenantry_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "period_start", "metric", name=op.f("pk_tenantry_usage")
        ),
    )
    with op.batch_alter_table("tenantry_tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trial_ends_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenantry_tenants", schema=None) as batch_op:
        batch_op.drop_column("trial_ends_at")
    op.drop_table("tenantry_usage")
    op.drop_table("tenantry_plan_overrides")
