"""test-only tenant tables: notes and tags

Revision ID: t0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tenantry.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "t0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("tenantry_tests",)
depends_on: str | Sequence[str] | None = "0001_core"

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "test_notes",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", RowId, nullable=False),
        sa.Column("body", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_test_notes"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenantry_tenants.id"], name="fk_test_notes_tenant", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "test_note_tags",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", RowId, nullable=False),
        sa.Column("note_id", RowId, nullable=False),
        sa.Column("label", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_test_note_tags"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenantry_tenants.id"],
            name="fk_test_note_tags_tenant",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "note_id"],
            ["test_notes.tenant_id", "test_notes.id"],
            name="fk_test_note_tags_note",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("tenant_id", "label", name="uq_test_note_tags_label"),
    )
    enable_tenant_rls("test_notes")
    enable_tenant_rls("test_note_tags")


def downgrade() -> None:
    disable_tenant_rls("test_note_tags")
    disable_tenant_rls("test_notes")
    op.drop_table("test_note_tags")
    op.drop_table("test_notes")
