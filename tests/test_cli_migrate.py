"""``tenantry migrate`` on PostgreSQL as the owner, granting the app role on the way."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from tenantry.cli.main import app
from tests.support.postgres import APP_ROLE, OWNER_ROLE, PostgresServer


@pytest.mark.postgres
def test_migrate_then_doctor_on_an_empty_postgres_database(postgres: PostgresServer) -> None:
    name = postgres.create_database(grant=False)
    try:
        owner_url = postgres.url(OWNER_ROLE, name)
        runner = CliRunner()
        result = runner.invoke(app, ["migrate", "--db", owner_url, "--app-role", APP_ROLE])
        assert result.exit_code == 0, result.output
        assert "granted tenantry_app" in result.stdout
        engine = create_engine(postgres.url(APP_ROLE, name))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM tenantry_tenants")).scalar() == 0
        engine.dispose()
        result = runner.invoke(app, ["doctor", "--db", owner_url, "--app-role", APP_ROLE])
        assert result.exit_code == 0, result.output
    finally:
        postgres.drop_database(name)
