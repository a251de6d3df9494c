"""Invite codes: one generic error for every bad code, and an atomic use count."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from tenantry import invites
from tenantry.db import Database
from tenantry.errors import InvalidInvite
from tenantry.models import Invite, User
from tenantry.roles import Role
from tenantry_server.settings import Settings
from tests.conftest import PASSWORD, Member, invite_and_join, register
from tests.support.mail import mailed, outbox


def _code(client: TestClient, admin: Member, **body: object) -> str:
    response = client.post("/api/tenant/invites", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["code"])


def _join_error(client: TestClient, who: Member, code: str) -> tuple[int, object]:
    response = client.post("/api/invites/join", json={"code": code}, headers=who.headers)
    return response.status_code, response.json()


def test_code_has_at_least_128_bits_and_only_its_hash_is_stored(
    client: TestClient, alice: Member, settings: Settings
) -> None:
    code = _code(client, alice)
    assert len(code.replace("-", "")) * 5 >= 128
    db = Database(settings.database_url)
    with db.sessions() as s:
        stored = s.query(Invite.code_hash).scalar()
    db.dispose()
    assert code not in str(stored) and code.replace("-", "") not in str(stored)


def test_preview_shows_tenant_and_inviter(client: TestClient, alice: Member) -> None:
    code = _code(client, alice, role="viewer")
    preview = client.post("/api/invites/preview", json={"code": code.lower()}).json()
    expires = datetime.fromisoformat(preview.pop("expires_at"))
    assert preview == {"tenant_name": "Alice household", "inviter": "alice", "role": "viewer"}
    # Until when it can be used: the default lifetime from now (a person may wait to join).
    left = expires - datetime.now(UTC)
    assert timedelta(days=6, hours=23) < left <= timedelta(days=7), left


def test_join_with_a_code_gives_the_role(client: TestClient, alice: Member, bob: Member) -> None:
    code = _code(client, alice, role="viewer")
    response = client.post("/api/invites/join", json={"code": code}, headers=bob.headers)
    assert response.status_code == 200
    assert response.json()["role"] == "viewer"
    assert response.json()["tenant_id"] == alice.tenant_id


def test_invalid_expired_revoked_and_used_codes_get_one_error(
    client: TestClient, alice: Member, bob: Member, settings: Settings
) -> None:
    carol = register(client, "carol@example.com")
    used = _code(client, alice)
    assert _join_error(client, carol, used)[0] == 200
    revoked = _code(client, alice)
    invite_id = client.get("/api/tenant/invites", headers=alice.headers).json()[0]["id"]
    assert (
        client.delete(f"/api/tenant/invites/{invite_id}", headers=alice.headers).status_code == 204
    )
    expired = _code(client, alice)
    db = Database(settings.database_url)
    with db.session() as s:
        s.execute(
            update(Invite)
            .where(Invite.revoked_at.is_(None), Invite.uses == 0)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    db.dispose()
    answers = {
        name: _join_error(client, bob, code)
        for name, code in {
            "used": used,
            "revoked": revoked,
            "expired": expired,
            "invalid": "AAAA-BBBB-CCCC",
        }.items()
    }
    assert len({str(a) for a in answers.values()}) == 1, answers
    assert answers["invalid"][0] == 400


def test_a_removed_or_demoted_admin_keeps_no_invite_to_the_old_role(
    client: TestClient, alice: Member, bob: Member
) -> None:
    """An admin's invites made earlier were a way back: removed, they rejoined as admin
    with their own code; demoted, their admin codes still made admins."""
    upgraded = client.put("/api/tenant/plan", json={"plan": "household"}, headers=alice.headers)
    assert upgraded.status_code == 200, upgraded.text  # seats for the three admins
    demoted = invite_and_join(client, alice, role=Role.ADMIN)
    admin_code, member_code = _code(client, demoted, role="admin"), _code(client, demoted)
    changed = client.patch(
        f"/api/tenant/members/{demoted.user_id}", json={"role": "member"}, headers=alice.headers
    )
    assert changed.status_code == 200, changed.text
    assert _join_error(client, bob, admin_code)[0] == 400  # above the inviter's new role
    still = client.post("/api/invites/preview", json={"code": member_code})
    assert still.status_code == 200, still.text  # within it: still good

    removed = invite_and_join(client, alice, role=Role.ADMIN)
    way_back = _code(client, removed, role="admin")
    gone = client.delete(f"/api/tenant/members/{removed.user_id}", headers=alice.headers)
    assert gone.status_code == 204
    assert _join_error(client, removed, way_back)[0] == 400
    left = invite_and_join(client, alice, role=Role.ADMIN)
    after_leaving = _code(client, left, role="viewer")
    assert client.post("/api/tenant/leave", headers=left.headers).status_code in (200, 204)
    assert _join_error(client, left, after_leaving)[0] == 400
    members = client.get("/api/tenant/members", headers=alice.headers).json()
    assert {m["email"]: m["role"] for m in members} == {
        alice.email: "owner",
        demoted.email: "member",
    }


def test_email_bound_invite_only_for_that_email(
    client: TestClient, alice: Member, bob: Member
) -> None:
    code = _code(client, alice, email="Carol@Example.com")
    assert _join_error(client, bob, code)[0] == 400
    carol = register(client, "carol@example.com")
    assert _join_error(client, carol, code)[0] == 200


def test_register_with_a_bad_code_creates_nothing(client: TestClient) -> None:
    response = client.post(
        "/api/auth/register",
        json={"email": "x@example.com", "password": PASSWORD, "invite_code": "NOPE-NOPE"},
    )
    assert response.status_code == 400
    retry = client.post("/api/auth/register", json={"email": "x@example.com", "password": PASSWORD})
    assert retry.status_code == 202
    # The retry created the account: a welcome mail, not an "already registered" one.
    assert mailed(client.app, "x@example.com", "welcome")  # type: ignore[arg-type]


def test_simultaneous_joins_admit_exactly_one(
    client: TestClient, alice: Member, settings: Settings
) -> None:
    """N threads, each with its own connection, race for an invite with max_uses=1."""
    code = _code(client, alice, max_uses=1)
    db = Database(settings.database_url)
    users = []
    with db.session() as s:
        for i in range(8):
            user = User(email=f"racer{i}@example.com", password_hash="x")
            s.add(user)
            s.flush()
            users.append(user)
    barrier = threading.Barrier(len(users))
    results: list[str] = []

    def racer(user: User) -> None:
        barrier.wait()
        try:
            with db.session() as s:
                invites.join(s, code=code, user=user)
            results.append("joined")
        except InvalidInvite:
            results.append("refused")

    threads = [threading.Thread(target=racer, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.dispose()
    assert sorted(results) == ["joined"] + ["refused"] * (len(users) - 1)
    members = client.get("/api/tenant/members", headers=alice.headers).json()
    assert len(members) == 2


def test_join_is_rate_limited(client: TestClient, bob: Member) -> None:
    codes = [
        client.post("/api/invites/join", json={"code": "ZZZZ"}, headers=bob.headers)
        for _ in range(12)
    ]
    assert codes[-1].status_code == 429
    assert codes[-1].json()["error"]["code"] == "rate_limited"


def test_an_invite_to_what_is_not_an_address_is_refused(client: TestClient, alice: Member) -> None:
    before = len(outbox(client.app))  # type: ignore[arg-type]
    lists = ("v@example.com,attacker@evil.example", "v@example.com attacker@evil.example")
    for bad in ("not-an-email", "alice@", "@example.com", "sp ace@example.com", *lists):
        response = client.post("/api/tenant/invites", json={"email": bad}, headers=alice.headers)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert (error["code"], error["message"]) == (
            "validation_error",
            "enter a valid email address",
        ), error
    # A line break would add a header to the mail (a Bcc): refused before any address check.
    injected = {"email": "v@example.com\r\nBcc: attacker@evil.example"}
    response = client.post("/api/tenant/invites", json=injected, headers=alice.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"] == "email: must be one line of text"
    listed = client.get("/api/tenant/invites", headers=alice.headers).json()
    assert [i for i in listed if i["email"]] == []
    assert len(outbox(client.app)) == before  # type: ignore[arg-type]
