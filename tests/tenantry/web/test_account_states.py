"""Accounts in edge states: no tenant left, user row gone. Regressions of issue #12."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import delete

from tenantry.models import User
from tests.conftest import PASSWORD, Member, invite_and_join


def _login(client: TestClient, email: str) -> dict[str, object]:
    response = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()
    return data


def _bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_person_removed_from_their_last_tenant_signs_in_and_can_create_or_join(
    client: TestClient, alice: Member
) -> None:
    carol = invite_and_join(client, alice, "carol@example.com")
    removed = client.delete(f"/api/tenant/members/{carol.user_id}", headers=alice.headers)
    assert removed.status_code == 204
    tokens = _login(client, carol.email)
    assert tokens["tenant_id"] is None and tokens["role"] is None
    headers = _bearer(tokens["access_token"])
    me = client.get("/api/me", headers=headers).json()
    assert me["memberships"] == [] and me["current_tenant_id"] is None
    # Tenant routes say why they refuse; it is not a sign-in problem.
    refused = client.get("/api/tenant", headers=headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "no_tenant"
    # Join again with a new code ...
    code = client.post("/api/tenant/invites", json={}, headers=alice.headers).json()["code"]
    joined = client.post("/api/invites/join", json={"code": code}, headers=headers)
    assert joined.status_code == 200, joined.text
    assert joined.json()["tenant_id"] == alice.tenant_id
    # ... and the tenantless refresh token still renews the session.
    renewed = client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert renewed.status_code == 200
    assert renewed.json()["tenant_id"] is None


def test_a_person_who_left_their_last_tenant_creates_a_new_one(
    client: TestClient, alice: Member
) -> None:
    dan = invite_and_join(client, alice, "dan@example.com")
    assert client.post("/api/tenant/leave", headers=dan.headers).status_code == 204
    headers = _bearer(_login(client, dan.email)["access_token"])
    created = client.post("/api/tenants", json={"name": "Dan's place"}, headers=headers)
    assert created.status_code == 201, created.text
    tenant = client.get("/api/tenant", headers=_bearer(created.json()["access_token"])).json()
    assert (tenant["name"], tenant["role"]) == ("Dan's place", "owner")


def test_a_token_of_a_deleted_user_is_401_on_every_route(client: TestClient, alice: Member) -> None:
    with client.app.state.tenancy.db.session() as session:  # type: ignore[attr-defined]
        session.execute(delete(User).where(User.id == alice.user_id))
    calls = [
        ("POST", "/api/tenants", {"name": "Ghost town"}),
        ("GET", "/api/tenants", None),
        ("GET", "/api/me", None),
        ("GET", "/api/tenant", None),
        ("GET", "/api/tenant/members", None),
        ("POST", "/api/invites/join", {"code": "AAAA-BBBB"}),
        ("POST", "/api/auth/switch", {"tenant_id": alice.tenant_id}),
        ("GET", "/api/readings", None),
    ]
    for method, path, body in calls:
        response = client.request(method, path, json=body, headers=alice.headers)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error"]["code"] == "unauthenticated"
    refreshed = client.post("/api/auth/refresh", json={"refresh_token": alice.refresh})
    assert refreshed.status_code == 401
