"""core tables

Revision ID: 0001_core
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_core"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("tenantry",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "tenantry_tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("plan", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenantry_tenants")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenantry_tenants_slug")),
    )
    op.create_table(
        "tenantry_users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("is_platform_admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenantry_users")),
        sa.UniqueConstraint("email", name=op.f("uq_tenantry_users_email")),
    )
    op.create_table(
        "tenantry_audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["tenantry_users.id"],
            name=op.f("fk_tenantry_audit_events_actor_id_tenantry_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenantry_audit_events")),
    )
    with op.batch_alter_table("tenantry_audit_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tenantry_audit_events_tenant_id", ["tenant_id", "created_at"], unique=False
        )

    op.create_table(
        "tenantry_invites",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["tenantry_users.id"],
            name=op.f("fk_tenantry_invites_created_by_tenantry_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenantry_tenants.id"],
            name=op.f("fk_tenantry_invites_tenant_id_tenantry_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenantry_invites")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_tenantry_invites_code_hash")),
    )
    with op.batch_alter_table("tenantry_invites", schema=None) as batch_op:
        batch_op.create_index("ix_tenantry_invites_tenant_id", ["tenant_id"], unique=False)

    op.create_table(
        "tenantry_memberships",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenantry_tenants.id"],
            name=op.f("fk_tenantry_memberships_tenant_id_tenantry_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["tenantry_users.id"],
            name=op.f("fk_tenantry_memberships_user_id_tenantry_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", name=op.f("pk_tenantry_memberships")),
    )
    with op.batch_alter_table("tenantry_memberships", schema=None) as batch_op:
        batch_op.create_index("ix_tenantry_memberships_user_id", ["user_id"], unique=False)

    op.create_table(
        "tenantry_refresh_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenantry_tenants.id"],
            name=op.f("fk_tenantry_refresh_tokens_tenant_id_tenantry_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["tenantry_users.id"],
            name=op.f("fk_tenantry_refresh_tokens_user_id_tenantry_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenantry_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tenantry_refresh_tokens_token_hash")),
    )
    with op.batch_alter_table("tenantry_refresh_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_tenantry_refresh_tokens_family", ["family_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("tenantry_refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_tenantry_refresh_tokens_family")

    op.drop_table("tenantry_refresh_tokens")
    with op.batch_alter_table("tenantry_memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_tenantry_memberships_user_id")

    op.drop_table("tenantry_memberships")
    with op.batch_alter_table("tenantry_invites", schema=None) as batch_op:
        batch_op.drop_index("ix_tenantry_invites_tenant_id")

    op.drop_table("tenantry_invites")
    with op.batch_alter_table("tenantry_audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_tenantry_audit_events_tenant_id")

    op.drop_table("tenantry_audit_events")
    op.drop_table("tenantry_users")
    op.drop_table("tenantry_tenants")
