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


@pytest.mark.postgres
def test_migrate_as_the_app_role_says_it_cannot_grant(postgres: PostgresServer) -> None:
    """It printed "granted tenantry_app its privileges" and exited 0: PostgreSQL only warns
    ("no privileges were granted") when a role that owns nothing grants."""
    name = postgres.create_database(grant=False)
    try:
        runner = CliRunner()
        owner = runner.invoke(
            app, ["migrate", "--db", postgres.url(OWNER_ROLE, name), "--app-role", APP_ROLE]
        )
        assert owner.exit_code == 0, owner.output
        as_app = runner.invoke(
            app, ["migrate", "--db", postgres.url(APP_ROLE, name), "--app-role", APP_ROLE]
        )
        assert as_app.exit_code == 1, as_app.output
        assert "granted" not in as_app.stdout
        assert f"owned by {OWNER_ROLE}" in as_app.output and "as the owner" in as_app.output
    finally:
        postgres.drop_database(name)
