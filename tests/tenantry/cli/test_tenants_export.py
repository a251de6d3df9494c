"""``tenantry tenants export`` of a database holding only some of the mapped tenant tables
(an app of your own beside the bundled server's models): the tables it has are exported,
and a failed export leaves the file to write as it was."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from tenantry.db import Database
from tenantry.models import Membership, Tenant, User
from tenantry.roles import Role
from tenantry_server.app import default_plugins
from tenantry_server.cli import app as cli


@pytest.fixture
def core_only(tmp_path: Path) -> str:
    """A database with tenantry's tables alone, and one tenant, ``acme``, with its owner."""
    default_plugins()  # meterbook's models are mapped, as with the server extra installed
    url = f"sqlite:///{tmp_path / 'core.sqlite3'}"
    assert CliRunner().invoke(cli, ["migrate", "--db", url]).exit_code == 0
    db = Database(url)
    with db.session() as session:
        tenant = Tenant(id=uuid.uuid4(), slug="acme", name="Acme")
        owner = User(email="owner@example.com", password_hash="x")
        session.add_all([tenant, owner])
        session.flush()
        session.add(Membership(tenant_id=tenant.id, user_id=owner.id, role=Role.OWNER.value))
    db.dispose()
    return url


def test_export_leaves_out_mapped_tables_the_database_does_not_have(
    core_only: str, tmp_path: Path
) -> None:
    file = tmp_path / "acme.json"
    exported = CliRunner().invoke(
        cli, ["tenants", "export", "acme", "--db", core_only, "-o", str(file)]
    )
    assert exported.exit_code == 0, exported.output  # was: no such table: readings
    doc = json.loads(file.read_bytes())
    assert "readings" not in doc["tables"]
    assert doc["tenant"]["slug"] == "acme"
    other = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    assert CliRunner().invoke(cli, ["migrate", "--db", other]).exit_code == 0
    imported = CliRunner().invoke(cli, ["tenants", "import", str(file), "--db", other])
    assert imported.exit_code == 0, imported.output


def test_a_failed_export_leaves_the_file_as_it_was(core_only: str, tmp_path: Path) -> None:
    db = Database(core_only)
    with db.engine.begin() as conn:  # the tenant's audit rows cannot be read any more
        conn.execute(text("DROP TABLE tenantry_memberships"))
    db.dispose()
    file = tmp_path / "acme.json"
    file.write_bytes(b"an earlier export")
    exported = CliRunner().invoke(
        cli, ["tenants", "export", "acme", "--db", core_only, "-o", str(file)]
    )
    assert exported.exit_code == 2, exported.output
    assert "no such table: tenantry_memberships" in exported.output
    assert file.read_bytes() == b"an earlier export"  # was: cut to half a document
    assert [p.name for p in tmp_path.iterdir() if "acme" in p.name] == ["acme.json"]


def test_an_app_table_no_loaded_model_maps_refuses_the_export(
    core_only: str, tmp_path: Path
) -> None:
    db = Database(core_only)
    with db.engine.begin() as conn:  # an app's table, its models not named with --models
        conn.execute(text("CREATE TABLE app_invoices (tenant_id CHAR(32), id INTEGER)"))
    db.dispose()
    file = tmp_path / "acme.json"
    for command in ("export", "backup"):
        exported = CliRunner().invoke(
            cli, ["tenants", command, "acme", "--db", core_only, "-o", str(file)]
        )
        assert exported.exit_code == 1, exported.output  # was: 0, and no invoices in it
        assert "app_invoices" in exported.output and "--models" in exported.output
        assert not file.exists()


def test_legacy_time_spellings_export_with_their_offset_and_garbage_is_said(
    core_only: str, tmp_path: Path
) -> None:
    """A Unix time in a date-time column (as tenantize copies a legacy app's) made the
    export a traceback; a date alone was exported without an offset its import refused."""
    db = Database(core_only)
    file = tmp_path / "acme.json"
    for stored, exported in ((1714557600, "2024-05-01T10:00:00+00:00"), ("2024-05-01", None)):
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE tenantry_tenants SET created_at = :v"), {"v": stored})
        run = CliRunner().invoke(
            cli, ["tenants", "export", "acme", "--db", core_only, "-o", str(file)]
        )
        assert run.exit_code == 0, run.output
        created = json.loads(file.read_bytes())["tenant"]["created_at"]
        assert created == (exported or "2024-05-01T00:00:00+00:00")
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE tenantry_tenants SET created_at = 'soon'"))
    db.dispose()
    refused = CliRunner().invoke(
        cli, ["tenants", "export", "acme", "--db", core_only, "-o", str(file)]
    )
    assert refused.exit_code == 1
    assert "a stored value cannot be read as its column's type" in refused.output
    assert "Traceback" not in refused.output
