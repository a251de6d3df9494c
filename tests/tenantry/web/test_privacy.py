"""A person's own data: export everything about them, erase the account; never another's."""

from __future__ import annotations

import re
import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from tenantry.models import AuditEvent, RefreshToken, Tenant, User
from tenantry_server.settings import Settings
from tests.conftest import PASSWORD, Member, invite_and_join, register
from tests.support.mail import mailed, text_of
from tests.support.remains import placed_url, tenant_rows


def test_export_holds_profile_memberships_and_own_events_only(
    client: TestClient, alice: Member, bob: Member
) -> None:
    carol = invite_and_join(client, alice, "carol@example.com")
    client.patch(
        f"/api/tenant/members/{carol.user_id}", json={"role": "viewer"}, headers=alice.headers
    )
    client.patch("/api/tenant", json={"name": "Renamed by Alice"}, headers=alice.headers)
    response = client.get("/api/me/export", headers=carol.headers)
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    doc = response.json()
    assert doc["format"] == "tenantry-user-export/1"
    assert doc["profile"]["email"] == "carol@example.com"
    assert [m["tenant_id"] for m in doc["memberships"]] == [alice.tenant_id]
    assert doc["memberships"][0]["role"] == "viewer"
    actions = {(e["action"], e["as"]) for e in doc["audit_events"]}
    assert ("user.registered", "actor") in actions
    assert ("member.role_changed", "target") in actions
    assert ("tenant.renamed", "actor") not in actions  # Alice's act, not about Carol
    assert doc["sessions"] and "token_hash" not in response.text
    for secret in ("password_hash", "bob@example.com", bob.tenant_id, "$argon2"):
        assert secret not in response.text


def test_export_lists_every_invite_to_the_address_with_its_state(
    client: TestClient, alice: Member
) -> None:
    def invite() -> dict[str, str]:
        made = client.post(
            "/api/tenant/invites",
            json={"email": "Carol@Example.com", "role": "member"},
            headers=alice.headers,
        )
        assert made.status_code == 201
        return dict(made.json())

    used, revoked = invite(), invite()
    assert (
        client.delete(f"/api/tenant/invites/{revoked['id']}", headers=alice.headers).status_code
        == 204
    )
    carol = register(client, "carol@example.com", invite_code=used["code"])
    listed = client.get("/api/me/export", headers=carol.headers).json()["invites_to_me"]
    assert [(i["id"], i["uses"], i["max_uses"], i["revoked"]) for i in listed] == [
        (used["id"], 1, 1, False),
        (revoked["id"], 0, 1, True),
    ]
    assert all(i["tenant_id"] == alice.tenant_id and i["expires_at"] for i in listed)
    assert used["code"] not in str(listed)


def test_no_user_can_be_named_export_or_erasure_act_on_the_caller(
    client: TestClient, alice: Member, bob: Member
) -> None:
    # There is no parameter for another user: extra fields are refused, not obeyed.
    named = client.post(
        "/api/me/erase", json={"password": PASSWORD, "user_id": alice.user_id}, headers=bob.headers
    )
    assert named.status_code == 422
    # Bob with Alice's password (he learned it somehow) still erases nobody.
    assert (
        client.post(
            "/api/me/erase", json={"password": "wrong-password!"}, headers=bob.headers
        ).status_code
        == 403
    )
    assert (
        client.get("/api/me/export?user_id=1", headers=bob.headers).json()["profile"]["email"]
        == "bob@example.com"
    )
    assert client.get("/api/me/export").status_code == 401
    assert client.get("/api/tenant", headers=alice.headers).status_code == 200
    assert client.get("/api/me", headers=bob.headers).status_code == 200


def test_the_last_owner_of_a_shared_tenant_must_hand_it_over_first(
    client: TestClient, alice: Member
) -> None:
    bob = invite_and_join(client, alice, "bob@example.com")
    refused = client.post("/api/me/erase", json={"password": PASSWORD}, headers=alice.headers)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert "last owner of Alice household" in error["message"]
    assert error["details"]["tenants"] == [{"id": alice.tenant_id, "name": "Alice household"}]
    assert client.get("/api/tenant", headers=alice.headers).status_code == 200
    client.post("/api/tenant/transfer", json={"user_id": bob.user_id}, headers=alice.headers)
    assert (
        client.post("/api/me/erase", json={"password": PASSWORD}, headers=alice.headers).status_code
        == 204
    )
    members = client.get("/api/tenant/members", headers=bob.headers).json()
    assert [m["email"] for m in members] == ["bob@example.com"]


def test_erasure_removes_the_person_and_pseudonymises_the_trail(
    app: FastAPI, client: TestClient, settings: Settings, alice: Member, bob: Member
) -> None:
    dora = invite_and_join(client, bob, "dora@example.com", role="admin")
    client.post("/api/notes", json={"body": "dora's note"}, headers=dora.headers)
    client.post("/api/tenant/invites", json={"email": "dora@example.com"}, headers=alice.headers)
    client.post("/api/notes", json={"body": "alone"}, headers=alice.headers)
    # Dora joins Alice's household too, then erases her account.
    code = client.post("/api/tenant/invites", json={}, headers=alice.headers).json()["code"]
    joined = client.post("/api/invites/join", json={"code": code}, headers=dora.headers)
    assert joined.status_code == 200
    erased = client.post("/api/me/erase", json={"password": PASSWORD}, headers=dora.headers)
    assert erased.status_code == 204, erased.text
    # Her tokens are dead at once: access refused, refresh refused.
    assert client.get("/api/me", headers=dora.headers).status_code == 401  # session ended
    assert client.get("/api/me/export", headers=dora.headers).status_code == 401  # no account
    refresh = client.post("/api/auth/refresh", json={"refresh_token": dora.refresh})
    assert refresh.status_code == 401
    with app.state.tenancy.db.sessions() as session:
        assert (
            session.scalar(select(RefreshToken.id).where(RefreshToken.user_id == dora.user_id))
            is None
        )
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.actor_pseudonym.is_not(None))
        ).all()
        pseudonyms = {e.actor_pseudonym for e in events}
        assert len(pseudonyms) == 1
        (pseudonym,) = pseudonyms
        assert pseudonym and re.fullmatch(r"erased-[0-9a-f]{16}", pseudonym)
        assert all(e.actor_id is None for e in events)
        assert (
            session.scalar(select(AuditEvent.id).where(AuditEvent.target == f"user:{dora.user_id}"))
            is None
        )
        dump = " ".join(f"{e.target} {e.details}" for e in session.scalars(select(AuditEvent)))
        assert "dora" not in dump
        # The placeholder row (its id stays on rows and old exports) does not carry the name.
        placeholder = session.get(User, dora.user_id)
        assert placeholder is not None and pseudonym not in placeholder.email
    # The owners are told a member left, without the trail's name for her.
    left = mailed(app, "alice@example.com", "member_left")
    assert "erased their account" in text_of(left)
    assert pseudonym not in text_of(left) and pseudonym not in str(left["Subject"])
    # The household's trail shows her events as one former member's.
    trail = client.get("/api/tenant/audit", headers=alice.headers).json()
    assert {e["actor_pseudonym"] for e in trail if e["actor_id"] is None} >= {pseudonym}
    # She can sign up again with the same address, as a new account: her old id is not reused.
    assert register(client, "dora@example.com").user_id > dora.user_id
    assert client.get("/api/me/export", headers=dora.headers).status_code == 401
    # The households live on: her note stays (its author unknown), the others keep access.
    notes = client.get("/api/notes", headers=bob.headers).json()
    assert [n["body"] for n in notes] == ["dora's note"]
    assert client.get("/api/tenant", headers=alice.headers).status_code == 200
    household = uuid.UUID(alice.tenant_id)
    placed = placed_url(app, household)
    assert tenant_rows(settings.database_url, household, placed=placed)["app_notes"] == 1


def test_erasure_leaves_no_failed_sign_in_naming_the_address(
    app: FastAPI, client: TestClient, alice: Member, bob: Member
) -> None:
    """A failed sign-in keeps the typed address in its details: the erasure pseudonymised
    the event's target and left ``{"email": "dora@…"}`` in the trail for the retention."""
    dora = invite_and_join(client, bob, "dora@example.com", role="member")
    wrong = {"email": "Dora@Example.com", "password": "not her password"}
    assert client.post("/api/auth/login", json=wrong).status_code == 401
    erased = client.post("/api/me/erase", json={"password": PASSWORD}, headers=dora.headers)
    assert erased.status_code == 204, erased.text
    with app.state.tenancy.db.sessions() as session:
        failed = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "user.sign_in_failed")
        ).all()
        assert failed, "the failed sign-in is still recorded"
        assert all("dora" not in f"{e.target} {e.details}".lower() for e in failed)
        assert {e.target for e in failed} <= {
            e.actor_pseudonym
            for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "member.left"))
        }
    # Someone else's failure is kept as it was.
    other = {"email": "alice@example.com", "password": "not hers either"}
    assert client.post("/api/auth/login", json=other).status_code == 401
    with app.state.tenancy.db.sessions() as session:
        details = session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "user.sign_in_failed")
        ).all()
        assert {"email": "alice@example.com"} in details


def test_erasure_finds_an_address_recorded_in_its_ascii_spelling(
    app: FastAPI, client: TestClient, bob: Member
) -> None:
    """A failed sign-in recorded before migration 0010 kept the ASCII spelling of an
    internationalised domain; the erasure removes that spelling too."""
    ernst = invite_and_join(client, bob, "ernst@bücher.example")
    with app.state.tenancy.db.session() as session:
        session.add(
            AuditEvent(
                action="user.sign_in_failed",
                target=f"user:{ernst.user_id}",
                details={"email": "ernst@xn--bcher-kva.example"},
            )
        )
    erased = client.post("/api/me/erase", json={"password": PASSWORD}, headers=ernst.headers)
    assert erased.status_code == 204, erased.text
    with app.state.tenancy.db.sessions() as session:
        details = session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "user.sign_in_failed")
        ).all()
    assert details and "ernst" not in str(details)


def test_a_sole_members_tenant_is_deleted_with_them(
    app: FastAPI, client: TestClient, alice: Member, bob: Member
) -> None:
    assert (
        client.post("/api/me/erase", json={"password": PASSWORD}, headers=alice.headers).status_code
        == 204
    )
    with app.state.tenancy.db.sessions() as session:
        tenant = session.get(Tenant, uuid.UUID(alice.tenant_id))
        assert tenant is not None and tenant.status == "deleted" and tenant.purge_after
        assert session.scalar(select(User.id).where(User.email == "alice@example.com")) is None
        placeholder = session.get(User, alice.user_id)
        assert placeholder is not None and placeholder.is_erased
        assert placeholder.display_name == "" and "alice" not in placeholder.email
    assert client.get("/api/tenant", headers=bob.headers).status_code == 200
