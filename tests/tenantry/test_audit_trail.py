"""What the audit trail records, what it never records, and who may read it."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from tenantry.models import AuditEvent, Tenant
from tests.conftest import PASSWORD, Member, invite_and_join
from tests.support.refresh import age_spent_refresh_tokens


def trail(app: FastAPI, tenant_id: str | None = None) -> list[AuditEvent]:
    with app.state.tenancy.db.session() as session:
        stmt = select(AuditEvent).order_by(AuditEvent.id)
        if tenant_id is not None:
            stmt = stmt.where(AuditEvent.tenant_id == uuid.UUID(tenant_id))
        return list(session.scalars(stmt))


def test_sign_ins_and_failures_are_recorded_without_password_material(
    app: FastAPI, client: TestClient, alice: Member
) -> None:
    client.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
    client.post("/api/auth/login", json={"email": alice.email, "password": "wrong-" + PASSWORD})
    events = trail(app)
    ok = [e for e in events if e.action == "user.signed_in"]
    failed = [e for e in events if e.action == "user.sign_in_failed"]
    assert ok and str(ok[-1].tenant_id) == alice.tenant_id
    assert failed and failed[-1].target == f"user:{alice.user_id}"
    assert PASSWORD not in repr([(e.details, e.target) for e in events])


def test_a_reused_refresh_token_revokes_its_family_on_the_record(
    app: FastAPI, client: TestClient, alice: Member
) -> None:
    assert (
        client.post("/api/auth/refresh", json={"refresh_token": alice.refresh}).status_code == 200
    )
    age_spent_refresh_tokens(app)
    assert (
        client.post("/api/auth/refresh", json={"refresh_token": alice.refresh}).status_code == 401
    )
    revoked = [e for e in trail(app, alice.tenant_id) if e.action == "session.revoked"]
    assert revoked and revoked[0].details == {"reason": "reuse"}


def test_row_writes_record_field_names_only(
    app: FastAPI, client: TestClient, alice: Member
) -> None:
    made = client.post(
        "/api/readings",
        json={"read_at": "2026-01-01T06:00:00Z", "meter_kwh": "12.5", "note": "SECRET-NOTE"},
        headers=alice.headers,
    ).json()
    client.patch(
        f"/api/readings/{made['id']}", json={"note": "OTHER-SECRET"}, headers=alice.headers
    )
    client.delete(f"/api/readings/{made['id']}", headers=alice.headers)
    rows = [e for e in trail(app, alice.tenant_id) if e.action.startswith("row.")]
    by_action = {e.action: e for e in rows}
    assert set(by_action) >= {"row.created", "row.updated", "row.deleted"}
    assert by_action["row.updated"].details == {"fields": ["note"]}
    assert "note" in by_action["row.created"].details["fields"]
    assert all(e.actor_id == alice.user_id for e in rows)
    assert "SECRET" not in repr([e.details for e in rows])


def test_exports_downloads_and_imports_are_recorded(
    app: FastAPI, client: TestClient, alice: Member
) -> None:
    client.get("/api/export", headers=alice.headers)
    client.get("/api/readings.csv", headers=alice.headers)
    with app.state.tenancy.db.session() as session:  # CSV import is a Household feature
        session.get(Tenant, uuid.UUID(alice.tenant_id)).plan = "household"  # type: ignore[union-attr]
    csv = "read_at,meter_kwh\n2026-01-01T06:00:00Z,1\n2026-01-02T06:00:00Z,2\n"
    imported = client.post(
        "/api/readings/import", files={"file": ("r.csv", csv, "text/csv")}, headers=alice.headers
    )
    assert imported.status_code == 200, imported.text
    actions = [e.action for e in trail(app, alice.tenant_id)]
    assert {"data.exported", "data.downloaded", "data.imported"} <= set(actions)


def test_a_no_op_role_change_writes_no_event(
    app: FastAPI, client: TestClient, alice: Member
) -> None:
    carol = invite_and_join(client, alice, "carol@example.com", role="member")
    before = len(trail(app, alice.tenant_id))
    same = client.patch(
        f"/api/tenant/members/{carol.user_id}", json={"role": "member"}, headers=alice.headers
    )
    assert same.status_code == 200
    assert len(trail(app, alice.tenant_id)) == before
    client.patch(
        f"/api/tenant/members/{carol.user_id}", json={"role": "viewer"}, headers=alice.headers
    )
    assert trail(app, alice.tenant_id)[-1].action == "member.role_changed"


def _pages(client: TestClient, member: Member, slug: str, path: str, **params: Any) -> Any:
    client.cookies.set("tenantry_access", member.access)
    try:
        return client.get(f"/t/{slug}{path}", params=params, follow_redirects=False)
    finally:
        client.cookies.delete("tenantry_access")


def test_a_tenant_admin_never_sees_another_tenants_trail(
    app: FastAPI, client: TestClient, alice: Member, bob: Member
) -> None:
    client.post(
        "/api/readings",
        json={"read_at": "2026-01-01T06:00:00Z", "meter_kwh": "1", "note": "x"},
        headers=alice.headers,
    )
    alice_slug = client.get("/api/tenant", headers=alice.headers).json()["slug"]
    bob_slug = client.get("/api/tenant", headers=bob.headers).json()["slug"]
    # Bob, an owner of his own household, asks for Alice's trail every way there is.
    for path in ("/household/audit", "/household/audit.csv"):
        response = _pages(client, bob, alice_slug, path)
        assert response.status_code == 404, path
    own = _pages(client, bob, bob_slug, "/household/audit")
    assert own.status_code == 200
    assert alice_slug not in own.text and "readings:" not in own.text
    csv = _pages(client, bob, bob_slug, "/household/audit.csv")
    assert csv.status_code == 200 and "readings:" not in csv.text
    api = client.get("/api/tenant/audit", headers=bob.headers).json()
    assert all(e["action"] != "row.created" for e in api)
    # Alice's own page shows her trail, filtered by action.
    mine = _pages(client, alice, alice_slug, "/household/audit", action="row")
    assert (
        mine.status_code == 200 and "row.created" in mine.text and "member.added" not in mine.text
    )


def test_a_member_below_admin_gets_no_trail(
    app: FastAPI, client: TestClient, alice: Member
) -> None:
    carol = invite_and_join(client, alice, "carol@example.com", role="member")
    slug = client.get("/api/tenant", headers=alice.headers).json()["slug"]
    assert _pages(client, carol, slug, "/household/audit").status_code == 403


def test_an_actor_no_account_can_have_gets_no_events(client: TestClient, alice: Member) -> None:
    """Past a 32-bit user id PostgreSQL refused the comparison (a 422 there, a 200 on SQLite):
    both now answer as for any member without events."""
    for actor in (2**31, 2**52 + 12345):
        response = client.get(
            "/api/tenant/audit", params={"actor_id": actor}, headers=alice.headers
        )
        assert (response.status_code, response.json()) == (200, []), actor
    own = client.get("/api/tenant/audit", params={"actor_id": alice.user_id}, headers=alice.headers)
    assert own.status_code == 200 and own.json()
