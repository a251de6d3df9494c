"""billing: a tenant's Stripe customer and subscription, handled webhook events

Revision ID: 0006_billing
Revises: 0005_operator
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_billing"
down_revision: str | None = "0005_operator"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenantry_billing_accounts",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("subscription_id", sa.String(length=64), nullable=True),
        sa.Column("price_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trial_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("grace_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenantry_tenants.id"],
            name=op.f("fk_tenantry_billing_accounts_tenant_id_tenantry_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenantry_billing_accounts")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_tenantry_billing_accounts_customer_id")),
    )
    op.create_table(
        "tenantry_billing_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=96), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenantry_tenants.id"],
            name=op.f("fk_tenantry_billing_events_tenant_id_tenantry_tenants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenantry_billing_events")),
    )
    op.create_index(
        op.f("ix_tenantry_billing_events_received_at"),
        "tenantry_billing_events",
        ["received_at"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_tenantry_billing_events_received_at"), table_name="tenantry_billing_events"
    )
    op.drop_table("tenantry_billing_events")
    op.drop_table("tenantry_billing_accounts")
