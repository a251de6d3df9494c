"""Export: the whole tenant as one JSON document, nothing of another tenant."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy import inspect as sa_inspect

from tenantry.context import TenantContext, tenant_scope
from tenantry.errors import NoTenantContext
from tenantry.export import key_ordered_batches
from tenantry.ids import TenantId, UserId
from tenantry.roles import Role
from tenantry.scoping import unscoped
from tenantry_server.settings import Settings
from tests.conftest import Member
from tests.notes_app import AppNote as Note


def test_export_holds_tenant_members_tables_and_counts(
    client: TestClient, alice: Member, bob: Member
) -> None:
    for body in ("first", "second"):
        client.post("/api/notes", json={"body": body}, headers=alice.headers)
    client.post("/api/notes", json={"body": "bob-private"}, headers=bob.headers)
    response = client.get("/api/export", headers=alice.headers)
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert re.fullmatch(
        r'attachment; filename="tenantry-export-[a-z0-9-]+-\d{8}\.json"', disposition
    )
    doc = response.json()
    assert doc["tenant"]["name"] == "Alice household"
    assert [m["email"] for m in doc["members"]] == ["alice@example.com"]
    assert "password_hash" not in response.text
    assert sorted(n["body"] for n in doc["tables"]["app_notes"]) == ["first", "second"]
    assert doc["summary"]["rows"]["app_notes"] == 2
    assert "bob-private" not in response.text


def test_export_of_a_large_tenant_is_valid_json(
    app: FastAPI, client: TestClient, alice: Member
) -> None:
    ctx = TenantContext(TenantId(uuid.UUID(alice.tenant_id)), UserId(alice.user_id), Role.OWNER)
    with tenant_scope(ctx), app.state.tenancy.db.session() as s:
        s.add_all(Note(body=f"n{i}") for i in range(2500))  # crosses the batch size twice
    doc = client.get("/api/export", headers=alice.headers).json()
    assert doc["summary"]["rows"]["app_notes"] == 2500
    assert len(doc["tables"]["app_notes"]) == 2500


def test_batches_read_only_the_sessions_tenant_and_fail_closed_without_one(
    app: FastAPI, client: TestClient, alice: Member, bob: Member
) -> None:
    # The rows come through Core with the tenant written in (tenantry.export): the filter
    # is the session's tenant, and a session with none gets no rows of anyone.
    for who, body in ((alice, "alice-note"), (bob, "bob-note")):
        client.post("/api/notes", json={"body": body}, headers=who.headers)
    db = app.state.tenancy.db
    mapper = sa_inspect(Note)
    ctx = TenantContext(TenantId(uuid.UUID(bob.tenant_id)), UserId(bob.user_id), Role.OWNER)
    with tenant_scope(ctx), db.read_sessions() as session:
        rows = [row for batch in key_ordered_batches(session, mapper) for row in batch]
    assert [row["body"] for row in rows] == ["bob-note"]
    with (
        db.read_sessions() as session,
        unscoped(session, reason="export test"),
        pytest.raises(NoTenantContext),
    ):
        next(key_ordered_batches(session, mapper))
    with db.read_sessions() as session, pytest.raises(NoTenantContext):
        next(key_ordered_batches(session, mapper))


def test_an_export_that_would_miss_a_tenant_table_is_refused_whole(
    client: TestClient, alice: Member, settings: Settings
) -> None:
    """From a stranger's finance app, mapping some of its converted tables: the CLI refused
    to export, and ``/api/export`` answered 200 without the budgets, saying nothing."""
    owner = create_engine(settings.migration_database_url or settings.database_url)
    kind = "uuid" if owner.dialect.name == "postgresql" else "CHAR(32)"
    with owner.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE budgets (tenant_id {kind} NOT NULL, id INTEGER)")
    try:
        refused = client.get("/api/export", headers=alice.headers)
        assert refused.status_code == 503, refused.text
        error = refused.json()["error"]
        assert error["code"] == "export_incomplete" and "budgets" in error["message"]
    finally:
        with owner.begin() as conn:
            conn.exec_driver_sql("DROP TABLE budgets")
        owner.dispose()
    assert client.get("/api/export", headers=alice.headers).status_code == 200
