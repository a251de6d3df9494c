"""``tenantry tenants import`` into a database lacking the app's tables: the schema refusal
names them and how to create them, instead of a raw "no such table"."""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from tenantry_server.app import create_app, default_plugins
from tenantry_server.cli import app as cli
from tests.conftest import FAST_PASSWORDS, make_settings, register


def test_import_into_a_core_only_database_names_the_missing_tables(
    template_db: Path, tmp_path: Path
) -> None:
    source = tmp_path / "source.sqlite3"
    shutil.copy(template_db, source)
    server = create_app(
        make_settings(f"sqlite:///{source}", tmp_path), default_plugins(), passwords=FAST_PASSWORDS
    )
    with TestClient(server) as client:
        casa = register(client, "casa@example.com", tenant_name="Casa")
        reading = {"read_at": "2026-11-01T07:30:00+00:00", "meter_kwh": "100.5"}
        assert client.post("/api/readings", json=reading, headers=casa.headers).status_code == 201
        slug = client.get("/api/tenant", headers=casa.headers).json()["slug"]
    server.state.tenancy.db.dispose()
    runner = CliRunner()
    file = tmp_path / "casa.json"
    exported = runner.invoke(
        cli, ["tenants", "export", slug, "--db", f"sqlite:///{source}", "-o", str(file)]
    )
    assert exported.exit_code == 0, exported.output
    # With no placement set-up, a backup is the same document (it required --placements).
    backup = tmp_path / "casa-backup.json"
    backed = runner.invoke(
        cli, ["tenants", "backup", slug, "--db", f"sqlite:///{source}", "-o", str(backup)]
    )
    assert backed.exit_code == 0, backed.output
    assert backup.read_bytes() == file.read_bytes()

    core_only = f"sqlite:///{tmp_path / 'core.sqlite3'}"
    assert runner.invoke(cli, ["migrate", "--db", core_only]).exit_code == 0
    imported = runner.invoke(cli, ["tenants", "import", str(file), "--db", core_only])
    assert imported.exit_code == 1, imported.output
    out = imported.output
    assert "no such table" not in out and "database error" not in out
    assert "the document names tables this database does not have: " in out
    assert "readings" in out.split("does not have: ")[1].split(".")[0]
    assert "tenantry serve --migrate-only" in out
    engine = create_engine(core_only)
    with engine.connect() as conn:  # nothing written
        assert conn.execute(text("SELECT count(*) FROM tenantry_tenants")).scalar() == 0
    engine.dispose()
