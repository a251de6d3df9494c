"""Alembic helpers: turn a tenant table's RLS on or off; no-ops on SQLite.

In a migration that creates a tenant table::

    from tenantry.rls import enable_tenant_rls, disable_tenant_rls

    def upgrade() -> None:
        op.create_table("notes", ...)
        enable_tenant_rls("notes")

    def downgrade() -> None:
        disable_tenant_rls("notes")
        op.drop_table("notes")
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Connection, inspect, text

from tenantry.rls.policy import (
    TENANT_COLUMN,
    disable_rls_statements,
    enable_rls_statements,
    is_control_plane,
)


def _run(connection: Connection, statements: list[str]) -> None:
    for statement in statements:
        connection.execute(text(statement))


def enable_tenant_rls(table: str, *, schema: str | None = None) -> None:
    """Enable and force RLS on ``table`` with the tenant policy (PostgreSQL only)."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _run(bind, enable_rls_statements(table, schema=schema))


def disable_tenant_rls(table: str, *, schema: str | None = None) -> None:
    """Drop the policy and switch RLS off on ``table`` (PostgreSQL only)."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _run(bind, disable_rls_statements(table, schema=schema))


def enable_all_tenant_rls(*, schema: str | None = None) -> list[str]:
    """Enable RLS on every table of the live schema that is a tenant table.

    A tenant table is one with a ``tenant_id`` column that is not a ``tenantry_*``
    control-plane table - the same rule as ``tenantry doctor``. For a migration
    that converts existing tables (``tenantize``). Returns the tables treated.
    """
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return []
    inspector = inspect(bind)
    tables = [
        name
        for name in sorted(inspector.get_table_names(schema=schema))
        if not is_control_plane(name)
        and any(c["name"] == TENANT_COLUMN for c in inspector.get_columns(name, schema=schema))
    ]
    for name in tables:
        _run(bind, enable_rls_statements(name, schema=schema))
    return tables
