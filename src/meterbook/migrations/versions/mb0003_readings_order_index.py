"""meterbook: readings indexed in (tenant_id, read_at, id) order.

Revision ID: mb0003
Revises: mb0002
Create Date: 2026-12-02

A reading's consumption looks up the reading just before it in (read_at, id) order.
The (tenant_id, read_at) index could seek the range but not give that order, so on
PostgreSQL every lookup read and sorted all the tenant's earlier readings: a page of
50 cost ~11 ms at 365 readings, growing with the history. With ``id`` in the index
each lookup is one index probe. An adopted table (``tenantry tenantize``) gets the
index too.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "mb0003"
down_revision: str | None = "mb0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "ix_readings_tenant_id_read_at"
NEW = "ix_readings_tenant_read_at_id"


def _indexes() -> set[str]:
    return {ix["name"] or "" for ix in sa.inspect(op.get_bind()).get_indexes("readings")}


def upgrade() -> None:
    found = _indexes()
    if NEW not in found:
        op.create_index(NEW, "readings", ["tenant_id", "read_at", "id"])
    if OLD in found:
        op.drop_index(OLD, table_name="readings")


def downgrade() -> None:
    found = _indexes()
    if OLD not in found:
        op.create_index(OLD, "readings", ["tenant_id", "read_at"])
    if NEW in found:
        op.drop_index(NEW, table_name="readings")
