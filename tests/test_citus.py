"""Citus DDL: reference tables first, then co-located distributed tables in FK order."""

from __future__ import annotations

from sqlalchemy import create_engine
from typer.testing import CliRunner

from tenantry.citus import citus_ddl
from tenantry.cli.main import app
from tenantry.inspection import collect
from tenantry.models import Base
from tenantry.rls import is_control_plane
from tests.support.databases import TestDatabase


def test_ddl_for_the_test_schema(database: TestDatabase) -> None:
    engine = create_engine(database.owner_url)
    with engine.connect() as conn:
        ddl = citus_ddl(collect(conn))
    engine.dispose()
    statements = [s for s in ddl if not s.startswith("--")]
    reference = [s for s in statements if "create_reference_table" in s]
    # Every control-plane table is a reference table (users, tenants, memberships, invites,
    # tokens, audit, and those the accounts, plans and operator migrations add).
    control = [t for t in Base.metadata.tables if is_control_plane(t)]
    assert len(reference) == len(control)
    assert all("'tenantry_" in s for s in reference)
    assert reference.index("SELECT create_reference_table('tenantry_tenants');") < reference.index(
        "SELECT create_reference_table('tenantry_memberships');"
    )
    assert statements[len(reference) :] == [
        "SELECT create_distributed_table('test_notes', 'tenant_id');",
        "SELECT create_distributed_table('test_note_tags', 'tenant_id', "
        "colocate_with => 'test_notes');",
    ]
    assert not any("alembic_version" in s for s in statements)


def test_cli_prints_ddl_on_stdout_and_report_on_stderr(database: TestDatabase) -> None:
    result = CliRunner().invoke(app, ["doctor", "--db", database.owner_url, "--citus"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith("--")
    assert "create_distributed_table('test_notes'" in result.stdout
    assert "ok: no problems" in result.stderr
