"""Privileges of the runtime role: read and write rows, nothing else.

The app role gets SELECT, INSERT, UPDATE, DELETE on the tables and USAGE,
SELECT on the sequences of one schema - never TRUNCATE (which ignores RLS),
REFERENCES, TRIGGER or ownership (an owner could switch RLS off). Default
privileges make the same grants apply to every table the migrating role
creates later, so migrations need not know the app role's name.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from tenantry.errors import TenantryError
from tenantry.rls.policy import quote_identifier as _quote

TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
SEQUENCE_PRIVILEGES = "USAGE, SELECT"


def grant_statements(app_role: str, *, schema: str = "public") -> list[str]:
    """The GRANT/REVOKE statements for ``app_role`` in ``schema``.

    Run them as the role that owns the tables (the migrating role): default
    privileges are recorded for the role that runs them.
    """
    role, sch = _quote(app_role), _quote(schema)
    return [
        # PostgreSQL < 15 lets everyone create objects in "public".
        f"REVOKE CREATE ON SCHEMA {sch} FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA {sch} TO {role}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {sch} FROM PUBLIC",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {sch} FROM {role}",
        f"GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {sch} TO {role}",
        f"GRANT {SEQUENCE_PRIVILEGES} ON ALL SEQUENCES IN SCHEMA {sch} TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {sch} GRANT {TABLE_PRIVILEGES} ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {sch} "
        f"GRANT {SEQUENCE_PRIVILEGES} ON SEQUENCES TO {role}",
        # Functions are executable by PUBLIC by default (a per-schema rule cannot
        # revoke that); the product has none, and new ones should be granted explicitly.
        "ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC",
    ]


class NotTheOwner(TenantryError):
    """The connected role does not own the tables, so it cannot grant on them."""

    code = "not_the_owner"
    status = 409


def grant_app_role(connection: Connection, app_role: str, *, schema: str = "public") -> None:
    """Apply :func:`grant_statements` on ``connection`` (PostgreSQL only).

    Args:
        connection: a connection of the role that owns the tables.
        app_role: the runtime role; it must exist and should not own anything.
        schema: the schema of the application's tables.

    Raises:
        ValueError: on a non-PostgreSQL connection.
        NotTheOwner: the connected role neither owns the schema's tables nor is a member
            of their owner (PostgreSQL would only warn "no privileges were granted").
    """
    if connection.dialect.name != "postgresql":
        raise ValueError("grants exist only on PostgreSQL")
    others = (
        connection.execute(
            text(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = :schema"
                " AND NOT pg_has_role(current_user, tableowner, 'USAGE') ORDER BY 1"
            ),
            {"schema": schema},
        )
        .scalars()
        .all()
    )
    if others:
        me = connection.execute(text("SELECT current_user")).scalar_one()
        raise NotTheOwner(
            f"cannot grant {app_role} its privileges: the tables are owned by "
            f"{', '.join(others)}, not {me}; run `tenantry migrate` as the owner"
        )
    for statement in grant_statements(app_role, schema=schema):
        connection.execute(text(statement))
