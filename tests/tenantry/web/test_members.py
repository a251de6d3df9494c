"""Roles, member management, and changes taking effect on the very next request."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Member, invite_and_join


def test_viewer_reads_but_cannot_write(client: TestClient, alice: Member) -> None:
    viewer = invite_and_join(client, alice, "viewer@example.com", role="viewer")
    assert client.get("/api/notes", headers=viewer.headers).status_code == 200
    response = client.post("/api/notes", json={"body": "hi"}, headers=viewer.headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_member_cannot_manage_members_or_invites(client: TestClient, alice: Member) -> None:
    member = invite_and_join(client, alice, "m@example.com")
    assert client.post("/api/tenant/invites", json={}, headers=member.headers).status_code == 403
    response = client.patch(
        f"/api/tenant/members/{alice.user_id}", json={"role": "viewer"}, headers=member.headers
    )
    assert response.status_code == 403


def test_removal_takes_effect_on_the_next_request(client: TestClient, alice: Member) -> None:
    member = invite_and_join(client, alice, "m@example.com")
    assert client.get("/api/notes", headers=member.headers).status_code == 200
    removed = client.delete(f"/api/tenant/members/{member.user_id}", headers=alice.headers)
    assert removed.status_code == 204
    # Same, still unexpired token: refused now.
    assert client.get("/api/notes", headers=member.headers).status_code == 404


def test_downgrade_takes_effect_on_the_next_request(client: TestClient, alice: Member) -> None:
    member = invite_and_join(client, alice, "m@example.com")
    assert client.post("/api/notes", json={"body": "x"}, headers=member.headers).status_code == 201
    client.patch(
        f"/api/tenant/members/{member.user_id}", json={"role": "viewer"}, headers=alice.headers
    )
    assert client.post("/api/notes", json={"body": "y"}, headers=member.headers).status_code == 403


def test_last_owner_cannot_leave_or_be_downgraded(client: TestClient, alice: Member) -> None:
    leave = client.post("/api/tenant/leave", headers=alice.headers)
    assert leave.status_code == 409
    down = client.patch(
        f"/api/tenant/members/{alice.user_id}", json={"role": "admin"}, headers=alice.headers
    )
    assert down.status_code == 409


def test_admin_cannot_touch_the_owner(client: TestClient, alice: Member) -> None:
    admin = invite_and_join(client, alice, "admin@example.com", role="admin")
    response = client.delete(f"/api/tenant/members/{alice.user_id}", headers=admin.headers)
    assert response.status_code == 403
    promote = client.patch(
        f"/api/tenant/members/{admin.user_id}", json={"role": "owner"}, headers=admin.headers
    )
    assert promote.status_code == 403


def test_transfer_ownership(client: TestClient, alice: Member) -> None:
    member = invite_and_join(client, alice, "m@example.com")
    response = client.post(
        "/api/tenant/transfer", json={"user_id": member.user_id}, headers=alice.headers
    )
    assert response.status_code == 204
    roles = {
        m["email"]: m["role"]
        for m in client.get("/api/tenant/members", headers=alice.headers).json()
    }
    assert roles == {"alice@example.com": "admin", "m@example.com": "owner"}
    assert client.post("/api/tenant/leave", headers=alice.headers).status_code == 204


def test_rename_is_for_owners_and_audited(client: TestClient, alice: Member) -> None:
    admin = invite_and_join(client, alice, "admin@example.com", role="admin")
    assert client.patch("/api/tenant", json={"name": "X"}, headers=admin.headers).status_code == 403
    response = client.patch("/api/tenant", json={"name": "The Alices"}, headers=alice.headers)
    assert response.json()["name"] == "The Alices"
    actions = [e["action"] for e in client.get("/api/tenant/audit", headers=alice.headers).json()]
    assert "tenant.renamed" in actions and "member.added" in actions


def test_delete_needs_the_slug_and_locks_members_out(client: TestClient, alice: Member) -> None:
    client.post("/api/notes", json={"body": "bye"}, headers=alice.headers)
    slug = client.get("/api/tenant", headers=alice.headers).json()["slug"]
    assert client.delete("/api/tenant?confirm=wrong", headers=alice.headers).status_code == 422
    assert client.delete(f"/api/tenant?confirm={slug}", headers=alice.headers).status_code == 204
    assert client.get("/api/notes", headers=alice.headers).status_code == 404


def test_the_audit_api_filters_and_pages_like_the_audit_page(
    client: TestClient, alice: Member, bob: Member
) -> None:
    carol = invite_and_join(client, alice, "carol@example.com")
    client.patch("/api/tenant", json={"name": "The Alices"}, headers=alice.headers)
    client.patch("/api/tenant", json={"name": "The Bobs"}, headers=bob.headers)

    def trail(**params: object) -> Any:
        return client.get("/api/tenant/audit", params=params, headers=alice.headers)

    everything = trail().json()
    assert {e["action"] for e in everything} >= {"tenant.renamed", "member.added"}
    members = trail(action="member").json()
    assert members and all(e["action"].startswith("member.") for e in members)
    by_carol = trail(actor_id=carol.user_id).json()
    assert by_carol and all(e["actor_id"] == carol.user_id for e in by_carol)
    assert len(by_carol) < len(everything)
    # Page by the last id seen: the pages are the whole trail, newest first, once each.
    pages, before = [], None
    while True:
        page = trail(limit=2, **({"before": before} if before else {})).json()
        if not page:
            break
        pages += page
        before = page[-1]["id"]
    assert pages == everything
    assert trail(since="2999-01-01T00:00:00Z").json() == []
    refused = trail(since="2026-01-02T00:00:00Z", until="2026-01-01T00:00:00Z")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "validation_error"
    for bad in ("yesterday", "0.5", "1700000000"):  # never a Unix time
        assert trail(since=bad).status_code == 422, bad
    assert trail(since="2026-01-01T00:00:00").status_code == 422  # no zone
    # Valid date-times whose UTC time is outside years 1-9999: a 422, not a 500.
    for edge in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-01:00"):
        answer = trail(since=edge)
        assert answer.status_code == 422, edge
        assert "out of range" in answer.json()["error"]["message"]
    assert trail(since="0001-01-01T00:00:00Z").status_code == 200
    # Only this household's events, whatever the filters ask.
    assert "The Bobs" not in str(trail(action="tenant").json())
