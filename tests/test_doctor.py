"""The schema doctor: pure rules on hand-made facts, then live databases of each backend."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Engine, create_engine, text
from typer.testing import CliRunner

from tenantry.cli.main import app
from tenantry.doctor import (
    Finding,
    check_foreign_keys,
    check_keys,
    check_reference_widths,
    check_rls,
    diagnose,
)
from tenantry.inspection import ForeignKeyFacts, PolicyFacts, TableFacts, UnknownRole
from tenantry.rls import enable_all_tenant_rls, policy_expression
from tests.support.databases import TestDatabase

APP_ROLE = "tenantry_app"


def _table(**overrides: object) -> TableFacts:
    facts: dict[str, object] = {
        "name": "notes",
        "columns": {"tenant_id": False, "id": False},
        "primary_key": ("tenant_id", "id"),
        "unique": (),
        "indexes": (),
        "foreign_keys": (),
        "rls_enabled": True,
        "rls_forced": True,
        "policies": (
            PolicyFacts(
                "tenant_isolation",
                True,
                ("public",),
                "ALL",
                policy_expression(),
                policy_expression(),
            ),
        ),
    }
    facts.update(overrides)
    return TableFacts(**facts)  # type: ignore[arg-type]


def _checks(findings: Iterator[Finding]) -> set[str]:
    return {f.check for f in findings}


def test_a_good_table_has_no_findings() -> None:
    table = _table()
    assert _checks(check_keys(table)) == set()
    assert _checks(check_rls(table)) == set()


def test_keys_must_include_tenant_id() -> None:
    table = _table(primary_key=("id",), unique=(("email",), ("tenant_id", "slug")))
    assert _checks(check_keys(table)) == {"primary_key_without_tenant", "unique_without_tenant"}
    assert _checks(check_keys(_table(primary_key=()))) == {"no_primary_key"}


def test_foreign_keys_between_tenant_tables_pair_tenant_ids() -> None:
    single = ForeignKeyFacts("fk", ("note_id",), "notes", ("id",))
    crossed = ForeignKeyFacts("fk", ("tenant_id", "note_id"), "notes", ("id", "tenant_id"))
    good = ForeignKeyFacts("fk", ("tenant_id", "note_id"), "notes", ("tenant_id", "id"))
    control = ForeignKeyFacts("fk", ("tenant_id",), "tenantry_tenants", ("id",))
    for fk, expected in ((single, 1), (crossed, 1), (good, 0), (control, 0)):
        table = _table(name="tags", foreign_keys=(fk,))
        assert len(list(check_foreign_keys(table, {"notes", "tags"}))) == expected


def test_a_reference_must_be_as_wide_as_the_key_it_references() -> None:
    notes = _table(types={"tenant_id": "uuid", "id": "bigint"})
    fk = ForeignKeyFacts("fk", ("tenant_id", "note_id"), "notes", ("tenant_id", "id"))
    for width, expected in (("integer", 1), ("smallint", 1), ("bigint", 0)):
        tags = _table(
            name="tags", foreign_keys=(fk,), types={"tenant_id": "uuid", "note_id": width}
        )
        found = list(check_reference_widths(tags, {"notes": notes, "tags": tags}))
        assert len(found) == expected, (width, found)
    narrow = _table(name="tags", foreign_keys=(fk,), types={"note_id": "integer"})
    (finding,) = check_reference_widths(narrow, {"notes": notes})
    assert "ALTER TABLE tags ALTER COLUMN note_id TYPE bigint" in str(finding)


def test_policy_must_guard_both_ways_for_all_commands() -> None:
    expr = policy_expression()
    read_only = PolicyFacts("p", True, ("public",), "SELECT", expr, None)
    no_check = PolicyFacts("p", True, ("public",), "ALL", expr, None)
    open_ = PolicyFacts("open", True, ("public",), "ALL", "true", "true")
    unset_means_all = PolicyFacts(
        "p", True, ("public",), "ALL",
        f"current_setting('app.tenant_id', true) IS NULL OR {expr}",
        f"current_setting('app.tenant_id', true) IS NULL OR {expr}",
    )  # fmt: skip
    for policy in (read_only, no_check, unset_means_all):
        assert "no_tenant_policy" in _checks(check_rls(_table(policies=(policy,))))
    good = _table().policies[0]
    assert _checks(check_rls(_table(policies=(good, open_)))) == {"extra_permissive_policy"}
    restrictive = PolicyFacts("r", False, ("public",), "SELECT", "true", None)
    assert _checks(check_rls(_table(policies=(good, restrictive)))) == set()


def test_policy_as_postgres_prints_it_is_recognised() -> None:
    printed = "(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)"
    policy = PolicyFacts("tenant_isolation", True, ("public",), "ALL", printed, printed)
    assert _checks(check_rls(_table(policies=(policy,)))) == set()


def test_rls_must_be_enabled_and_forced() -> None:
    assert _checks(check_rls(_table(rls_enabled=False, rls_forced=False))) == {
        "rls_disabled",
        "rls_not_forced",
    }


# --- live databases -------------------------------------------------------------------------


@pytest.fixture
def owner(database: TestDatabase) -> Iterator[Engine]:
    engine = create_engine(database.owner_url)
    yield engine
    engine.dispose()


def _role(database: TestDatabase) -> str | None:
    return APP_ROLE if database.backend == "postgresql" else None


def test_fresh_database_is_clean(database: TestDatabase, owner: Engine) -> None:
    report = diagnose(owner, app_role=_role(database))
    assert report.findings == ()
    assert [t.name for t in report.facts.tenant_tables] == ["test_note_tags", "test_notes"]


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["doctor", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_is_clean_on_a_fresh_database(database: TestDatabase) -> None:
    role = ["--app-role", APP_ROLE] if database.backend == "postgresql" else []
    code, out, _ = _cli("--db", database.owner_url, *role)
    assert code == 0, out
    assert "ok: no problems" in out
    code, out, _ = _cli("--db", database.owner_url, "--json", *role)
    assert code == 0
    assert json.loads(out)["ok"] is True


def test_single_column_foreign_key_is_named(database: TestDatabase, owner: Engine) -> None:
    with owner.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE bad_parents (id INTEGER PRIMARY KEY, tenant_id UUID NOT NULL"
                " REFERENCES tenantry_tenants (id))"
            )
        )
        conn.execute(
            text(
                "CREATE TABLE bad_children (tenant_id UUID NOT NULL, id INTEGER NOT NULL,"
                " parent_id INTEGER REFERENCES bad_parents (id), PRIMARY KEY (tenant_id, id))"
            )
        )
    code, out, _ = _cli("--db", database.owner_url, "--json")
    assert code == 1
    findings = {(f["table"], f["check"]) for f in json.loads(out)["findings"]}
    assert ("bad_children", "foreign_key_without_tenant") in findings
    assert ("bad_parents", "primary_key_without_tenant") in findings
    assert ("bad_parents", "no_tenant_index") in findings
    code, out, _ = _cli("--db", database.owner_url)
    assert code == 1
    assert "bad_children: foreign key (parent_id) -> bad_parents(id)" in out


def test_a_columns_own_unique_is_named(database: TestDatabase, owner: Engine) -> None:
    """On SQLite, ``code VARCHAR(10) UNIQUE`` passed: SQLAlchemy's inspector reads only
    the UNIQUE constraints a table lists apart (an outside tester's hand-written schema)."""
    with owner.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE widgets (tenant_id UUID NOT NULL REFERENCES tenantry_tenants (id),"
                " id INTEGER NOT NULL, code VARCHAR(10) UNIQUE, PRIMARY KEY (tenant_id, id))"
            )
        )
    code, out, _ = _cli("--db", database.owner_url, "--json")
    findings = {(f["table"], f["check"]) for f in json.loads(out)["findings"]}
    assert code == 1 and ("widgets", "unique_without_tenant") in findings, out


@pytest.mark.postgres
def test_rls_disabled_is_named(pg_database: TestDatabase) -> None:
    engine = create_engine(pg_database.owner_url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE test_notes DISABLE ROW LEVEL SECURITY"))
    engine.dispose()
    code, out, _ = _cli("--db", pg_database.owner_url, "--app-role", APP_ROLE)
    assert code == 1
    assert "test_notes: row-level security is not enabled [rls_disabled]" in out
    assert "test_note_tags" not in out.split("tenant tables:")[1].split("\n", 1)[1]


@pytest.mark.postgres
def test_rls_helper_repairs_every_tenant_table(pg_database: TestDatabase) -> None:
    engine = create_engine(pg_database.owner_url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE test_notes NO FORCE ROW LEVEL SECURITY"))
        conn.execute(text("DROP POLICY tenant_isolation ON test_note_tags"))
        conn.execute(text("CREATE POLICY open ON test_note_tags USING (true)"))
    assert {(f.table, f.check) for f in diagnose(engine).findings} == {
        ("test_notes", "rls_not_forced"),
        ("test_note_tags", "no_tenant_policy"),
        ("test_note_tags", "extra_permissive_policy"),
    }
    with engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
        assert enable_all_tenant_rls() == ["test_note_tags", "test_notes"]
        conn.execute(text("DROP POLICY open ON test_note_tags"))
    assert diagnose(engine).findings == ()
    engine.dispose()


@pytest.mark.postgres
def test_a_narrow_reference_is_named_until_widened(pg_database: TestDatabase) -> None:
    engine = create_engine(pg_database.owner_url)
    with engine.begin() as conn:  # as a model declaring the reference INTEGER made it
        conn.execute(text("ALTER TABLE test_note_tags ALTER COLUMN note_id TYPE integer"))
    checks = {(f.table, f.check) for f in diagnose(engine).findings}
    assert checks == {("test_note_tags", "reference_narrower_than_key")}
    with engine.begin() as conn:  # the repair the finding names
        conn.execute(text("ALTER TABLE test_note_tags ALTER COLUMN note_id TYPE bigint"))
    assert diagnose(engine).findings == ()
    engine.dispose()


@pytest.mark.postgres
def test_owner_as_app_role_is_flagged(pg_database: TestDatabase) -> None:
    engine = create_engine(pg_database.owner_url)
    checks = {(f.table, f.check) for f in diagnose(engine, app_role="tenantry_owner").findings}
    engine.dispose()
    assert (None, "app_role_owns_database") in checks
    assert ("test_notes", "app_role_owner") in checks
    assert ("test_notes", "app_role_truncate") in checks


@pytest.mark.postgres
def test_superuser_as_app_role_is_flagged(pg_database: TestDatabase) -> None:
    engine = create_engine(pg_database.owner_url)
    checks = {f.check for f in diagnose(engine, app_role="postgres").findings}
    engine.dispose()
    assert {"app_role_superuser", "app_role_bypassrls"} <= checks


@pytest.mark.postgres
def test_definer_functions_and_invoker_less_views_are_flagged(pg_database: TestDatabase) -> None:
    engine = create_engine(pg_database.owner_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE VIEW note_bodies AS SELECT body FROM test_notes"))
        conn.execute(
            text(
                "CREATE VIEW safe_bodies WITH (security_invoker = true)"
                " AS SELECT body FROM test_notes"
            )
        )
        conn.execute(
            text(
                "CREATE FUNCTION all_notes() RETURNS bigint LANGUAGE sql SECURITY DEFINER"
                " AS 'SELECT count(*) FROM test_notes'"
            )
        )
        conn.execute(text("GRANT EXECUTE ON FUNCTION all_notes() TO tenantry_app"))
    findings = diagnose(engine, app_role=APP_ROLE).findings
    engine.dispose()
    assert {(f.table, f.check) for f in findings} == {
        ("note_bodies", "view_not_security_invoker"),
        (None, "security_definer_function"),
    }


@pytest.mark.postgres
def test_unknown_app_role_is_bad_input(pg_database: TestDatabase) -> None:
    code, _, err = _cli("--db", pg_database.owner_url, "--app-role", "nobody")
    assert code == 2
    assert "role 'nobody' does not exist" in err
    engine = create_engine(pg_database.owner_url)
    with pytest.raises(UnknownRole):
        diagnose(engine, app_role="nobody")
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "bad database URL"),
        ("sqlite:////nonexistent/dir/x.sqlite3", "no SQLite database"),
        ("postgresql+psycopg://u:secret@127.0.0.1:1/db", "cannot read"),
    ],
)
def test_bad_input_exits_2_without_traceback(url: str, message: str) -> None:
    code, out, err = _cli("--db", url)
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err
    assert "secret" not in out + err


def test_empty_database_is_bad_input(tmp_path: object) -> None:
    import sqlite3
    from pathlib import Path

    path = Path(str(tmp_path)) / "empty.sqlite3"
    sqlite3.connect(path).close()
    code, _, err = _cli("--db", f"sqlite:///{path}")
    assert code == 2
    assert "no tables" in err


@pytest.mark.postgres
def test_credentials_the_app_role_reads_outside_the_tenant_tables_are_named(
    pg_database: TestDatabase,
) -> None:
    """tenantize leaves the legacy users table, password hashes included, and the app
    role's grants cover every table: any raw query of the app could read every hash."""
    engine = create_engine(pg_database.owner_url)
    with engine.begin() as conn:
        conn.execute(
            text("CREATE TABLE users (id int PRIMARY KEY, email text, password_hash text)")
        )
        conn.execute(text("CREATE TABLE colours (id int PRIMARY KEY, name text)"))
    findings = [f for f in diagnose(engine, app_role=APP_ROLE).findings]
    assert [(f.table, f.check) for f in findings] == [("users", "credentials_readable")]
    assert "may read password_hash of every row" in findings[0].message
    with engine.begin() as conn:  # the repair the finding names: only the columns it reads
        conn.execute(text(f"REVOKE SELECT ON users FROM {APP_ROLE}"))
        conn.execute(text(f"GRANT SELECT (id, email) ON users TO {APP_ROLE}"))
    assert diagnose(engine, app_role=APP_ROLE).findings == ()
    engine.dispose()
