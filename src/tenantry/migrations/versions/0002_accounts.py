"""accounts: email verification, session versions, tenantless refresh tokens, password resets

Revision ID: 0002_accounts
Revises: 0001_core
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_accounts"
down_revision: str | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenantry_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), nullable=False, server_default="0")
        )
    # Accounts made before verification existed could sign in: they stay able to.
    op.execute(
        "UPDATE tenantry_users SET email_verified_at = created_at WHERE email_verified_at IS NULL"
    )
    # A person who left their last tenant still has a session: its refresh token names none.
    with op.batch_alter_table("tenantry_refresh_tokens", schema=None) as batch_op:
        batch_op.alter_column("tenant_id", existing_type=sa.Uuid(), nullable=True)
    op.create_table(
        "tenantry_password_resets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["tenantry_users.id"],
            name=op.f("fk_tenantry_password_resets_user_id_tenantry_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenantry_password_resets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tenantry_password_resets_token_hash")),
    )
    with op.batch_alter_table("tenantry_password_resets", schema=None) as batch_op:
        batch_op.create_index("ix_tenantry_password_resets_user_id", ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tenantry_password_resets", schema=None) as batch_op:
        batch_op.drop_index("ix_tenantry_password_resets_user_id")
    op.drop_table("tenantry_password_resets")
    op.execute("DELETE FROM tenantry_refresh_tokens WHERE tenant_id IS NULL")
    with op.batch_alter_table("tenantry_refresh_tokens", schema=None) as batch_op:
        batch_op.alter_column("tenant_id", existing_type=sa.Uuid(), nullable=False)
    with op.batch_alter_table("tenantry_users", schema=None) as batch_op:
        batch_op.drop_column("session_version")
        batch_op.drop_column("email_verified_at")
