"""tenant soft deletion and audit pseudonyms

Revision ID: 0003_lifecycle
Revises: 0001_core
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_lifecycle"
down_revision: str | None = "0002_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenantry_tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("purge_after", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_tenantry_tenants_purge_after", ["purge_after"], unique=False)
    with op.batch_alter_table("tenantry_audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actor_pseudonym", sa.String(length=40), nullable=True))
        batch_op.create_index("ix_tenantry_audit_events_actor_id", ["actor_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tenantry_audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_tenantry_audit_events_actor_id")
        batch_op.drop_column("actor_pseudonym")
    with op.batch_alter_table("tenantry_tenants", schema=None) as batch_op:
        batch_op.drop_index("ix_tenantry_tenants_purge_after")
        batch_op.drop_column("purge_after")
        batch_op.drop_column("deleted_at")
