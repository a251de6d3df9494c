"""A signed-in person changes their password: the current one is required, every other
session ends, this one goes on."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, Member
from tests.support.mail import mailed

NEW = "a brand new password"


def _change(client: TestClient, who: Member, current: str, new: str = NEW):  # type: ignore[no-untyped-def]
    body = {"current_password": current, "new_password": new}
    return client.post("/api/me/password", json=body, headers=who.headers)


def test_the_current_password_is_required_and_a_weak_one_refused(
    client: TestClient, alice: Member
) -> None:
    wrong = _change(client, alice, "not my password")
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "forbidden"
    weak = _change(client, alice, PASSWORD, new="short")
    assert weak.status_code == 422
    assert weak.json()["error"]["details"]["field"] == "new_password"  # the field sent
    signed_out = client.post(
        "/api/me/password", json={"current_password": PASSWORD, "new_password": NEW}
    )
    assert signed_out.status_code == 401
    login = client.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert login.status_code == 200  # nothing changed


def test_a_change_ends_every_other_session_and_keeps_this_one(
    client: TestClient, alice: Member
) -> None:
    elsewhere = client.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
    other = elsewhere.json()
    changed = _change(client, alice, PASSWORD)
    assert changed.status_code == 200, changed.text
    pair = changed.json()
    mine = {"Authorization": f"Bearer {pair['access_token']}"}
    assert client.get("/api/tenant", headers=mine).json()["id"] == alice.tenant_id
    # The old tokens of both sessions are dead at once.
    assert client.get("/api/me", headers=alice.headers).status_code == 401
    theirs = {"Authorization": f"Bearer {other['access_token']}"}
    assert client.get("/api/me", headers=theirs).status_code == 401
    refresh = client.post("/api/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert refresh.status_code == 401
    old = client.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert old.status_code == 401
    new = client.post("/api/auth/login", json={"email": alice.email, "password": NEW})
    assert new.status_code == 200
    assert mailed(client.app, alice.email, "password_changed")  # type: ignore[arg-type]
    events = client.get("/api/tenant/audit", headers=mine).json()
    assert "user.password_changed" not in {e["action"] for e in events}  # not a tenant's event
