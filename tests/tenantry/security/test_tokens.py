"""Token tampering: every forged, expired or incomplete token is refused with 401."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Member

SECRET = "s" * 64


def _claims(member: Member, **changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "sub": str(member.user_id),
        "tenant": member.tenant_id,
        "role": "owner",
        "iat": datetime.now(UTC),
        "exp": datetime.now(UTC) + timedelta(minutes=5),
        "jti": "j",
        "aud": "tenantry-api",
        "iss": "tenantry",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def _get_me(client: TestClient, token: str) -> int:
    return client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_valid_token_is_accepted(client: TestClient, alice: Member) -> None:
    assert _get_me(client, jwt.encode(_claims(alice), SECRET, algorithm="HS256")) == 200


def test_alg_none_is_refused(client: TestClient, alice: Member) -> None:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(
        b"="
    )
    body = dict(_claims(alice))
    body["iat"] = int(datetime.now(UTC).timestamp())
    body["exp"] = body["iat"] + 300  # type: ignore[operator]
    payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=")
    assert _get_me(client, f"{header.decode()}.{payload.decode()}.") == 401


def test_wrong_key_is_refused(client: TestClient, alice: Member) -> None:
    assert _get_me(client, jwt.encode(_claims(alice), "k" * 64, algorithm="HS256")) == 401


def test_other_algorithm_with_the_same_key_is_refused(client: TestClient, alice: Member) -> None:
    assert _get_me(client, jwt.encode(_claims(alice), SECRET, algorithm="HS512")) == 401


def test_expired_token_is_refused(client: TestClient, alice: Member) -> None:
    old = datetime.now(UTC) - timedelta(hours=1)
    token = jwt.encode(_claims(alice, exp=old, iat=old), SECRET, algorithm="HS256")
    assert _get_me(client, token) == 401


@pytest.mark.parametrize("claim", ["sub", "tenant", "role", "exp", "iat", "jti", "aud", "iss"])
def test_missing_claim_is_refused(client: TestClient, alice: Member, claim: str) -> None:
    token = jwt.encode(_claims(alice, **{claim: None}), SECRET, algorithm="HS256")
    assert _get_me(client, token) == 401


def test_wrong_audience_is_refused(client: TestClient, alice: Member) -> None:
    token = jwt.encode(_claims(alice, aud="other"), SECRET, algorithm="HS256")
    assert _get_me(client, token) == 401


def test_tenant_claim_for_a_tenant_the_user_left(client: TestClient, alice: Member) -> None:
    from tests.conftest import invite_and_join

    carol = invite_and_join(client, alice, "carol@example.com")
    assert _get_me(client, carol.access) == 200
    assert client.post("/api/tenant/leave", headers=carol.headers).status_code == 204
    response = client.get("/api/me", headers=carol.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "tenant_not_found"


def test_role_claim_is_not_trusted(client: TestClient, alice: Member) -> None:
    from tests.conftest import invite_and_join

    viewer = invite_and_join(client, alice, "v@example.com", role="viewer")
    forged = jwt.encode(
        _claims(alice, sub=str(viewer.user_id), role="owner"), SECRET, algorithm="HS256"
    )
    response = client.patch(
        "/api/tenant", json={"name": "hijacked"}, headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 403
