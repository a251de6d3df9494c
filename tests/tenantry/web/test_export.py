"""Export: the whole tenant as one JSON document, nothing of another tenant."""

from __future__ import annotations

import re
import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tenantry.context import TenantContext, tenant_scope
from tenantry.ids import TenantId, UserId
from tenantry.roles import Role
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
