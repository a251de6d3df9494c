"""Register, login, refresh rotation, logout, switch, /api/me."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, Member, register


def test_register_creates_a_personal_tenant_owned_by_the_user(client: TestClient) -> None:
    member = register(client, "  Dora@Example.COM ", tenant_name="Dora's flat")
    me = client.get("/api/me", headers=member.headers).json()
    assert me["email"] == "dora@example.com"
    assert [(m["name"], m["role"]) for m in me["memberships"]] == [("Dora's flat", "owner")]


def test_email_is_unique_after_case_folding(client: TestClient, alice: Member) -> None:
    response = client.post(
        "/api/auth/register", json={"email": " ALICE@example.com", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"


def test_login_does_not_reveal_which_emails_exist(client: TestClient, alice: Member) -> None:
    wrong_password = client.post(
        "/api/auth/login", json={"email": alice.email, "password": "not the password"}
    )
    unknown = client.post("/api/auth/login", json={"email": "nobody@example.com", "password": "x"})
    assert wrong_password.status_code == unknown.status_code == 401
    assert wrong_password.json() == unknown.json()


def test_login_returns_tokens(client: TestClient, alice: Member) -> None:
    response = client.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["tenant_id"] == alice.tenant_id


def test_refresh_rotates_and_a_reused_token_revokes_the_family(
    client: TestClient, alice: Member
) -> None:
    first = client.post("/api/auth/refresh", json={"refresh_token": alice.refresh})
    assert first.status_code == 200
    second_token = first.json()["refresh_token"]
    reuse = client.post("/api/auth/refresh", json={"refresh_token": alice.refresh})
    assert reuse.status_code == 401
    # The stolen-token alarm revoked the legitimate successor too.
    assert client.post("/api/auth/refresh", json={"refresh_token": second_token}).status_code == 401


def test_logout_revokes_the_refresh_token(client: TestClient, alice: Member) -> None:
    assert client.post("/api/auth/logout", json={"refresh_token": alice.refresh}).status_code == 204
    assert (
        client.post("/api/auth/refresh", json={"refresh_token": alice.refresh}).status_code == 401
    )


def test_switch_to_a_tenant_of_mine_and_not_to_another(
    client: TestClient, alice: Member, bob: Member
) -> None:
    created = client.post(
        "/api/tenants", json={"name": "Alice office", "kind": "business"}, headers=alice.headers
    )
    assert created.status_code == 201
    office = created.json()["tenant_id"]
    switched = client.post("/api/auth/switch", json={"tenant_id": office}, headers=alice.headers)
    assert switched.status_code == 200
    token = switched.json()["access_token"]
    tenant = client.get("/api/tenant", headers={"Authorization": f"Bearer {token}"}).json()
    assert tenant["name"] == "Alice office"
    refused = client.post(
        "/api/auth/switch", json={"tenant_id": bob.tenant_id}, headers=alice.headers
    )
    assert refused.status_code == 404
    assert len(client.get("/api/tenants", headers=alice.headers).json()) == 2


def test_no_token_is_401_with_the_error_shape(client: TestClient) -> None:
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_weak_password_names_the_field(client: TestClient) -> None:
    response = client.post(
        "/api/auth/register", json={"email": "e@example.com", "password": "short"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"] == {"field": "password"}


def test_login_is_rate_limited(client: TestClient, alice: Member) -> None:
    answers = [
        client.post("/api/auth/login", json={"email": alice.email, "password": "wrong"})
        for _ in range(11)
    ]
    assert [a.status_code for a in answers[:10]] == [401] * 10
    assert answers[10].status_code == 429
    assert answers[10].json()["error"]["code"] == "rate_limited"
