"""meterbook tables: readings and vouchers.

Revision ID: mb0001
Revises: 0001_core
Create Date: 2026-11-23

A table that already exists is adopted, not created: that is the case after
``tenantry tenantize`` converted a single-tenant database into this schema. A table
of that name with other columns is refused (``tenantry.migrations.adopt``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tenantry.migrations.adopt import adoptable

revision: str = "mb0001"
down_revision: str | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("meterbook",)
depends_on: str | Sequence[str] | None = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tenant_columns(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", RowId, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{table}"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenantry_tenants.id"],
            name=f"fk_{table}_tenant_id_tenantry_tenants",
            ondelete="CASCADE",
        ),
    ]


def _author(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["tenantry_users.id"],
            name=f"fk_{table}_user_id_tenantry_users",
            ondelete="SET NULL",
        ),
    ]


_AUTHOR = ["user_id", "created_at"]
READINGS = ["tenant_id", "id", "read_at", "meter_wh", "note", "is_replacement", *_AUTHOR]
VOUCHERS = [
    "tenant_id",
    "id",
    "purchased_on",
    "amount_minor",
    "currency",
    "energy_wh",
    "token_number",
    "vendor",
    "notes",
    *_AUTHOR,
]


def upgrade() -> None:
    if not adoptable("readings", READINGS):
        op.create_table(
            "readings",
            *_tenant_columns("readings"),
            sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("meter_wh", sa.BigInteger(), nullable=False),
            sa.Column("note", sa.Text(), nullable=False),
            sa.Column("is_replacement", sa.Boolean(), nullable=False),
            *_author("readings"),
        )
        op.create_index("ix_readings_tenant_id_read_at", "readings", ["tenant_id", "read_at"])
    if not adoptable("vouchers", VOUCHERS):
        op.create_table(
            "vouchers",
            *_tenant_columns("vouchers"),
            sa.Column("purchased_on", sa.Date(), nullable=False),
            sa.Column("amount_minor", sa.BigInteger(), nullable=False),
            sa.Column("currency", sa.String(length=3), nullable=False),
            sa.Column("energy_wh", sa.BigInteger(), nullable=False),
            sa.Column("token_number", sa.String(length=64), nullable=False),
            sa.Column("vendor", sa.String(length=120), nullable=False),
            sa.Column("notes", sa.Text(), nullable=False),
            *_author("vouchers"),
        )
        op.create_index(
            "ix_vouchers_tenant_id_purchased_on", "vouchers", ["tenant_id", "purchased_on"]
        )


def downgrade() -> None:
    op.drop_table("vouchers")
    op.drop_table("readings")
