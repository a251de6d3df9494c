"""The generated DDL: one fail-closed policy, forced RLS, no TRUNCATE in the grants."""

from __future__ import annotations

from tenantry.rls import (
    POLICY_NAME,
    disable_rls_statements,
    enable_rls_statements,
    grant_statements,
    is_control_plane,
    policy_expression,
)


def test_policy_uses_stable_builtins_and_fails_closed_on_empty() -> None:
    expr = policy_expression()
    assert expr == "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def test_enable_forces_rls_and_guards_every_command_both_ways() -> None:
    ddl = enable_rls_statements("notes")
    assert ddl[:2] == [
        "ALTER TABLE notes ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE notes FORCE ROW LEVEL SECURITY",
    ]
    create = ddl[-1]
    assert create.startswith(f"CREATE POLICY {POLICY_NAME} ON notes AS PERMISSIVE FOR ALL")
    assert create.count(policy_expression()) == 2
    assert "USING (" in create
    assert "WITH CHECK (" in create


def test_identifiers_are_quoted() -> None:
    assert enable_rls_statements("Order", schema="my app")[0] == (
        'ALTER TABLE "my app"."Order" ENABLE ROW LEVEL SECURITY'
    )
    assert grant_statements('x"; DROP TABLE y; --')[1] == (
        'GRANT USAGE ON SCHEMA public TO "x""; DROP TABLE y; --"'
    )


def test_disable_undoes_enable() -> None:
    assert disable_rls_statements("notes") == [
        "DROP POLICY IF EXISTS tenant_isolation ON notes",
        "ALTER TABLE notes NO FORCE ROW LEVEL SECURITY",
        "ALTER TABLE notes DISABLE ROW LEVEL SECURITY",
    ]


def test_grants_never_include_truncate_or_ownership() -> None:
    ddl = " ".join(s for s in grant_statements("tenantry_app") if s.startswith(("GRANT", "ALTER")))
    assert "TRUNCATE" not in ddl
    assert "ALL PRIVILEGES" not in ddl
    assert "SELECT, INSERT, UPDATE, DELETE ON ALL TABLES" in ddl


def test_control_plane_tables_are_recognised_by_prefix() -> None:
    assert is_control_plane("tenantry_memberships")
    assert not is_control_plane("readings")
