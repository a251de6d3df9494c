"""Token tampering: every forged, expired or incomplete token is refused with 401."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient

from tenantry.errors import AuthenticationFailed
from tenantry.security.tokens import TokenService
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


@pytest.mark.parametrize(
    "changes",
    [
        {"tenant": 5},
        {"tenant": ["a"]},
        {"role": 3},
        {"sub": "1e400"},
        {"sub": 1.5e300},
        {"exp": 10**30},
        {"ver": "x"},
    ],
    ids=repr,
)
def test_a_signed_claim_of_the_wrong_shape_is_refused(
    client: TestClient, alice: Member, changes: dict[str, object]
) -> None:
    """Signed with the key, so only its shape is wrong: ``tenant: 5`` answered 500 (uuid
    of an int) and an ``exp`` past year 9999 answered 422 ("out of range")."""
    token = jwt.encode(_claims(alice, **changes), SECRET, algorithm="HS256")
    assert _get_me(client, token) == 401


def test_wrong_audience_is_refused(client: TestClient, alice: Member) -> None:
    token = jwt.encode(_claims(alice, aud="other"), SECRET, algorithm="HS256")
    assert _get_me(client, token) == 401


def test_tenant_claim_for_a_tenant_the_user_left(client: TestClient, alice: Member) -> None:
    from tests.conftest import invite_and_join

    carol = invite_and_join(client, alice, "carol@example.com")
    assert _get_me(client, carol.access) == 200
    assert client.post("/api/tenant/leave", headers=carol.headers).status_code == 204
    response = client.get("/api/tenant", headers=carol.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "tenant_not_found"
    # /api/me still answers (where to go next), in no tenant.
    assert client.get("/api/me", headers=carol.headers).json()["current_tenant_id"] is None


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


def test_a_token_verified_before_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    """Verified tokens are remembered, not their validity: ``exp`` counts on every call."""
    service = TokenService(SECRET, access_ttl=timedelta(seconds=60))
    token, expires = service.issue(user_id=7, tenant_id=None, role=None)
    assert service.verify(token).user_id == 7
    assert service.verify(token).user_id == 7  # remembered
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 61)
    with pytest.raises(AuthenticationFailed):
        service.verify(token)
    monkeypatch.setattr(time, "time", lambda: expires.timestamp())  # exp reached: expired
    with pytest.raises(AuthenticationFailed):
        service.verify(token)


def test_a_refused_token_is_refused_every_time() -> None:
    service = TokenService(SECRET)
    token, _ = service.issue(user_id=7, tenant_id=None, role=None)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "8"  # someone else, under the first token's signature
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = f"{header}.{body}.{signature}"
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            service.verify(forged)
    other = TokenService("k" * 64)  # another key's service never accepts this one's tokens
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            other.verify(token)
    assert service.verify(token).user_id == 7
