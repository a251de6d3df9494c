"""The round trip across backends: export on one, import on the other, export again: equal.

SQLite -> PostgreSQL through the admin API, PostgreSQL -> SQLite through the CLI,
with meterbook's tables and the test notes app (a foreign key between tenant tables).
Instance-specific fields (docs/accounts.md) are normalised before comparing:
user ids (replaced by the members' emails) and the checksums of
tables that hold user ids.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, update
from typer.testing import CliRunner

from tenantry.models import User
from tenantry_server.app import create_app, default_plugins
from tenantry_server.settings import Settings
from tests.conftest import (
    FAST_PASSWORDS,
    PASSWORD,
    Member,
    invite_and_join,
    make_settings,
    register,
)
from tests.notes_app import NotesPlugin
from tests.support.postgres import APP_ROLE, OWNER_ROLE, PostgresServer

pytestmark = pytest.mark.postgres
USER_COLUMNS = {"readings": ["created_by"], "vouchers": ["created_by"]}


@pytest.fixture
def sqlite_settings(template_db: Path, tmp_path: Path) -> Settings:
    path = tmp_path / "source.sqlite3"
    shutil.copy(template_db, path)
    return make_settings(f"sqlite:///{path}", tmp_path)


@pytest.fixture
def pg_settings(
    postgres: PostgresServer, pg_server_template: str, tmp_path: Path
) -> Iterator[Settings]:
    name = postgres.create_database(template=pg_server_template)
    yield make_settings(
        postgres.url(APP_ROLE, name),
        tmp_path,
        migration_database_url=postgres.url(OWNER_ROLE, name),
    )
    postgres.drop_database(name)


def _client(settings: Settings) -> tuple[FastAPI, TestClient]:
    app = create_app(settings, [*default_plugins(), NotesPlugin()], passwords=FAST_PASSWORDS)
    return app, TestClient(app)


def _fill(client: TestClient) -> Member:
    """A household of two with readings, a voucher, notes and comments."""
    alice = register(client, "alice@example.com", tenant_name="Alice's flat")
    bob = invite_and_join(client, alice, "bob@example.com")
    for who, day, kwh in ((alice, 1, "100.5"), (bob, 2, "112.25"), (alice, 3, "120")):
        reading = {"read_at": f"2026-11-0{day}T07:30:00.123456+02:00", "meter_kwh": kwh}
        assert client.post("/api/readings", json=reading, headers=who.headers).status_code == 201
    voucher = {"purchased_on": "2026-11-02", "amount": "500.00", "kwh": "172.5", "vendor": "Shop"}
    assert client.post("/api/vouchers", json=voucher, headers=bob.headers).status_code == 201
    for body in ("gas", "water"):
        assert (
            client.post("/api/notes", json={"body": body}, headers=alice.headers).status_code == 201
        )
    return alice


def _export(client: TestClient, member: Member) -> dict[str, Any]:
    response = client.get("/api/export", headers=member.headers)
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


def normalised(doc: dict[str, Any]) -> dict[str, Any]:
    """The document without its instance-specific fields."""
    doc = orjson.loads(orjson.dumps(doc))
    emails = {m["user_id"]: m["email"] for m in doc["members"]}
    for member in doc["members"]:
        member["user_id"] = member["email"]
    for table, columns in USER_COLUMNS.items():
        for row in doc["tables"][table]:
            for column in columns:
                row[column] = emails.get(row[column])
        del doc["summary"]["checksums"][table]
    return doc


def assert_same(left: dict[str, Any], right: dict[str, Any]) -> None:
    a, b = normalised(left), normalised(right)
    for table in sorted(set(a["tables"]) | set(b["tables"])):
        assert a["tables"].get(table) == b["tables"].get(table), table
    assert a == b


def _sign_in(client: TestClient, email: str, tenant_id: str) -> dict[str, str]:
    token = client.post("/api/auth/login", json={"email": email, "password": PASSWORD}).json()
    switched = client.post(
        "/api/auth/switch",
        json={"tenant_id": tenant_id},
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert switched.status_code == 200, switched.text
    return {"Authorization": f"Bearer {switched.json()['access_token']}"}


def test_sqlite_to_postgresql_and_back_to_an_equal_document(
    sqlite_settings: Settings, pg_settings: Settings
) -> None:
    source_app, source = _client(sqlite_settings)
    with source:
        alice = _fill(source)
        first = _export(source, alice)
    source_app.state.tenancy.db.dispose()
    assert first["summary"]["rows"]["readings"] == 3

    target_app, target = _client(pg_settings)
    with target:
        # The people already have accounts there (other ids: the admin registered first).
        root = register(target, "root@example.com")
        register(target, "bob@example.com")
        register(target, "alice@example.com")
        engine = create_engine(pg_settings.migration_database_url or "")
        with engine.begin() as conn:
            conn.execute(update(User).where(User.id == root.user_id).values(is_platform_admin=True))
        engine.dispose()
        response = target.post(
            "/api/admin/tenants/import",
            content=orjson.dumps(first),
            headers={"Content-Type": "application/json", **root.headers},
        )
        assert response.status_code == 201, response.text
        result = response.json()
        assert [m["status"] for m in result["members"]] == ["matched", "matched"]
        assert {c["name"] for c in result["checks"] if c["ok"]} >= {
            "checksum:readings",
            "checksum:vouchers",
            "checksum:app_notes",
        }
        headers = _sign_in(target, "alice@example.com", alice.tenant_id)
        second = target.get("/api/export", headers=headers).json()
        # The app works on the imported data: the dashboard reads the moved readings.
        assert target.get("/api/readings", headers=headers).json()["total"] == 3
    target_app.state.tenancy.db.dispose()
    assert second["members"][0]["user_id"] != first["members"][0]["user_id"]
    assert_same(second, first)
    assert second["summary"]["checksums"]["app_notes"] == first["summary"]["checksums"]["app_notes"]


def test_postgresql_to_sqlite_with_the_command_line(
    sqlite_settings: Settings, pg_settings: Settings, tmp_path: Path
) -> None:
    from tenantry_server.cli import app as cli

    source_app, source = _client(pg_settings)
    with source:
        alice = _fill(source)
        first = _export(source, alice)
    source_app.state.tenancy.db.dispose()
    runner = CliRunner()
    file = tmp_path / "alice.json"
    slug = first["tenant"]["slug"]
    exported = runner.invoke(
        cli, ["tenants", "export", slug, "--db", pg_settings.database_url, "-o", str(file)]
    )
    assert exported.exit_code == 0, exported.output
    by_cli = orjson.loads(file.read_bytes())
    assert_same(by_cli, first)

    # The target knows nobody: both members get invites bound to their addresses.
    imported = runner.invoke(
        cli, ["tenants", "import", str(file), "--db", sqlite_settings.database_url]
    )
    assert imported.exit_code == 0, imported.output
    assert "verified" in imported.output and "FAILED" not in imported.output
    codes = {
        line.split()[0].rstrip(":"): line.split("invite code ")[1].split()[0]
        for line in imported.output.splitlines()
        if "invite code" in line
    }
    assert set(codes) == {"alice@example.com", "bob@example.com"}
    again = runner.invoke(
        cli, ["tenants", "import", str(file), "--db", sqlite_settings.database_url]
    )
    assert again.exit_code == 1 and "already exists" in again.output

    target_app, target = _client(sqlite_settings)
    with target:
        back = register(target, "alice@example.com", invite_code=codes["alice@example.com"])
        assert back.tenant_id == alice.tenant_id
        assert target.get("/api/tenant", headers=back.headers).json()["role"] == "owner"
        register(target, "bob@example.com", invite_code=codes["bob@example.com"])
        second = _export(target, back)
    target_app.state.tenancy.db.dispose()
    # The members rejoined just now: their join dates are of this instance. Authors who had
    # no account here at import time are not known for their old rows (documented).
    for doc in (first, second):
        for member in doc["members"]:
            member["joined_at"] = None
    for table, columns in USER_COLUMNS.items():
        for row in second["tables"][table]:
            assert all(row[c] is None for c in columns)
        for row in first["tables"][table]:
            row.update(dict.fromkeys(columns))
    assert_same(second, first)
