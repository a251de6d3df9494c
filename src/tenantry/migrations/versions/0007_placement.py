"""tenant placement: shared tables or a database of the tenant's own

Revision ID: 0007_placement
Revises: 0006_billing
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_placement"
down_revision: str | None = "0006_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenantry_placements",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("server", sa.String(length=63), nullable=True),
        sa.Column("database", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("target", sa.JSON(), nullable=True),
        sa.Column("leftover", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenantry_tenants.id"],
            name=op.f("fk_tenantry_placements_tenant_id_tenantry_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenantry_placements")),
    )
    op.create_index("ix_tenantry_placements_server", "tenantry_placements", ["server"])


def downgrade() -> None:
    op.drop_index("ix_tenantry_placements_server", table_name="tenantry_placements")
    op.drop_table("tenantry_placements")
