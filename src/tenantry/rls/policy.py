"""The row-level security policy of a tenant table, as DDL.

Every tenant table gets RLS enabled *and forced* (so the table owner is bound
too) and exactly one policy, for all commands, whose USING and WITH CHECK are::

    tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid

``current_setting(…, true)`` returns NULL when the setting was never defined and
``NULLIF`` turns the empty string (what we set when there is no tenant) into
NULL; ``tenant_id = NULL`` is never true, so no tenant means no rows and no
writes. Only STABLE built-ins appear, so the planner evaluates the right side
once and uses an index leading with ``tenant_id``.

The ``tenantry_*`` tables are the control plane (tenants, users, memberships,
invites, tokens, audit) and get no policy: membership resolution has to read
them before any tenant is known, and across tenants. They hold no tenant data.
"""

from __future__ import annotations

import re

from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS

POLICY_NAME = "tenant_isolation"
TENANT_SETTING = "app.tenant_id"
TENANT_COLUMN = "tenant_id"
CONTROL_PLANE_PREFIX = "tenantry_"

_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")


def quote_identifier(name: str) -> str:
    """``name`` as a PostgreSQL identifier: bare when it can be, else double-quoted."""
    if _PLAIN.fullmatch(name) and name not in RESERVED_WORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


_quote = quote_identifier


def is_control_plane(table: str) -> bool:
    """True for the core's own tables, which are not tenant tables."""
    return table.startswith(CONTROL_PLANE_PREFIX)


def policy_expression(column: str = TENANT_COLUMN) -> str:
    """The boolean SQL expression the policy uses for both USING and WITH CHECK."""
    return f"{_quote(column)} = NULLIF(current_setting('{TENANT_SETTING}', true), '')::uuid"


def qualified(table: str, schema: str | None = None) -> str:
    """``table`` (or ``schema.table``) quoted as a PostgreSQL identifier."""
    return f"{_quote(schema)}.{_quote(table)}" if schema else _quote(table)


def enable_rls_statements(table: str, *, schema: str | None = None) -> list[str]:
    """DDL that enables and forces RLS on ``table`` and (re)creates its one policy.

    Idempotent: an existing ``tenant_isolation`` policy is replaced.
    """
    name = qualified(table, schema)
    expr = policy_expression()
    return [
        f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY_NAME} ON {name}",
        f"CREATE POLICY {POLICY_NAME} ON {name} AS PERMISSIVE FOR ALL TO PUBLIC "
        f"USING ({expr}) WITH CHECK ({expr})",
    ]


def disable_rls_statements(table: str, *, schema: str | None = None) -> list[str]:
    """DDL that undoes :func:`enable_rls_statements` (for a migration's downgrade)."""
    name = qualified(table, schema)
    return [
        f"DROP POLICY IF EXISTS {POLICY_NAME} ON {name}",
        f"ALTER TABLE {name} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {name} DISABLE ROW LEVEL SECURITY",
    ]
