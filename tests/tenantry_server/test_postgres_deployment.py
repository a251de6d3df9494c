"""The documented PostgreSQL deployment, from an empty database, as the server runs it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tenantry.db import Database
from tenantry.doctor import diagnose
from tenantry_server.app import create_app, default_plugins, migrate
from tenantry_server.settings import Settings
from tests.conftest import FAST_PASSWORDS, register
from tests.support.postgres import APP_ROLE, OWNER_ROLE, PostgresServer

pytestmark = pytest.mark.postgres


@pytest.fixture
def empty_database(postgres: PostgresServer) -> Iterator[str]:
    name = postgres.create_database(grant=False)
    yield name
    postgres.drop_database(name)


def test_owner_migrates_app_role_serves_and_doctor_is_clean(
    postgres: PostgresServer, empty_database: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=postgres.url(APP_ROLE, empty_database),
        migration_database_url=postgres.url(OWNER_ROLE, empty_database),
        app_role=APP_ROLE,
        data_dir=tmp_path,
        secret_key="d" * 64,
    )
    migrate(settings, default_plugins())
    owner = Database(postgres.url(OWNER_ROLE, empty_database))
    report = diagnose(owner.engine, app_role=APP_ROLE)
    owner.dispose()
    assert report.ok, report.findings

    app = create_app(settings, passwords=FAST_PASSWORDS)
    with TestClient(app) as client:
        member = register(client, "pg@example.com")
        created = client.post(
            "/api/readings",
            json={"read_at": "2024-01-15T12:00:00Z", "meter_kwh": "1234.5"},
            headers=member.headers,
        )
        assert created.status_code == 201, created.text
        listed = client.get("/api/readings", headers=member.headers).json()
        assert [r["meter_kwh"] for r in listed["items"]] == ["1234.500"]
    app.state.tenancy.db.dispose()
