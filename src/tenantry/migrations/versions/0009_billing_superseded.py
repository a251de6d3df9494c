"""billing: the subscriptions a newer one replaced, until Stripe has canceled them

Revision ID: 0009_billing_superseded
Revises: 0008_placement_moves
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_billing_superseded"
down_revision: str | None = "0008_placement_moves"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tenantry_billing_accounts",
        sa.Column("superseded", sa.JSON(), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("tenantry_billing_accounts") as batch:
        batch.drop_column("superseded")
