"""Soft deletion: members lose access at once, an owner restores, a purge leaves nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from tenantry.models import AuditEvent, Tenant, User
from tenantry.retention import PURGED, purge_expired
from tenantry_server.settings import Settings
from tests.conftest import Member, invite_and_join
from tests.support.remains import placed_url, tenant_rows


def _slug(client: TestClient, member: Member) -> str:
    slug: str = client.get("/api/tenant", headers=member.headers).json()["slug"]
    return slug


def test_deletion_locks_members_out_at_once_and_hides_the_tenant(
    client: TestClient, alice: Member
) -> None:
    bob = invite_and_join(client, alice, "bob@example.com")
    assert client.post("/api/notes", json={"body": "x"}, headers=bob.headers).status_code == 201
    wrong = client.delete("/api/tenant?confirm=nope", headers=alice.headers)
    assert wrong.status_code == 422
    assert (
        client.delete("/api/tenant?confirm=Alice household", headers=alice.headers).status_code
        == 204
    )
    # Bob's token is still valid: the next request is refused all the same.
    refused = client.get("/api/notes", headers=bob.headers)
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "tenant_deleted"
    assert client.get("/api/tenants", headers=bob.headers).json() == []
    assert client.get("/api/tenants", headers=alice.headers).json() == []
    # New members cannot join through an open invite either.
    assert client.post("/api/invites/preview", json={"code": "X"}).status_code == 400


def test_an_owner_restores_within_the_grace_period(client: TestClient, alice: Member) -> None:
    bob = invite_and_join(client, alice, "bob@example.com", role="admin")
    client.post("/api/notes", json={"body": "kept"}, headers=alice.headers)
    client.delete(f"/api/tenant?confirm={_slug(client, alice)}", headers=alice.headers)
    listed = client.get("/api/tenants/deleted", headers=alice.headers).json()
    assert [t["id"] for t in listed] == [alice.tenant_id]
    purge_after = datetime.fromisoformat(listed[0]["purge_after"])
    assert timedelta(days=29) < purge_after - datetime.now(UTC) <= timedelta(days=30)
    # An admin is not an owner: no list, no restore.
    assert client.get("/api/tenants/deleted", headers=bob.headers).json() == []
    bob_try = client.post(f"/api/tenants/{alice.tenant_id}/restore", headers=bob.headers)
    assert bob_try.status_code == 404
    restored = client.post(f"/api/tenants/{alice.tenant_id}/restore", headers=alice.headers)
    assert restored.status_code == 200, restored.text
    assert restored.json()["tenant_id"] == alice.tenant_id
    assert [n["body"] for n in client.get("/api/notes", headers=bob.headers).json()] == ["kept"]
    again = client.post(f"/api/tenants/{alice.tenant_id}/restore", headers=alice.headers)
    assert again.status_code == 409


def test_another_tenants_owner_can_neither_see_nor_restore(
    client: TestClient, alice: Member, bob: Member
) -> None:
    client.delete(f"/api/tenant?confirm={_slug(client, alice)}", headers=alice.headers)
    assert client.get("/api/tenants/deleted", headers=bob.headers).json() == []
    for target in (alice.tenant_id, str(uuid.uuid4())):
        response = client.post(f"/api/tenants/{target}/restore", headers=bob.headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "tenant_not_found"
    # Bob's own household is untouched.
    assert client.get("/api/tenant", headers=bob.headers).status_code == 200


def test_purge_leaves_only_a_pseudonymous_record(
    app: FastAPI, client: TestClient, settings: Settings, alice: Member, bob: Member
) -> None:
    invite_and_join(client, alice, "carol@example.com")
    client.post("/api/tenant/invites", json={}, headers=alice.headers)
    for body in ("a", "b"):
        client.post("/api/notes", json={"body": body}, headers=alice.headers)
    client.post("/api/notes", json={"body": "bob's"}, headers=bob.headers)
    client.delete(f"/api/tenant?confirm={_slug(client, alice)}", headers=alice.headers)
    gone = uuid.UUID(alice.tenant_id)
    placed = placed_url(app, gone)  # a database of its own: the purge drops it
    before = tenant_rows(settings.database_url, gone, placed=placed)
    assert before["app_notes"] == 2 and before["tenantry_memberships"] == 2
    db = app.state.tenancy.db
    placements = app.state.tenancy.placements
    purge = purge_expired if placements is None else placements.purge_expired  # the app's job
    with db.session() as session:  # not yet due: nothing happens
        assert purge(session) == []
    with db.session() as session:
        purged = purge(session, now=datetime.now(UTC) + timedelta(days=31))
    assert [p.tenant_id for p in purged] == [gone]
    after = tenant_rows(settings.database_url, gone, placed=placed)
    assert after.pop("tenantry_audit_events") == 1
    assert set(after.values()) == {0}, {k: v for k, v in after.items() if v}
    with db.sessions() as session:
        (tombstone,) = session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == gone))
    assert tombstone.action == PURGED
    assert tombstone.actor_id is None and tombstone.target is None
    assert set(tombstone.details) == {"deleted_at"}
    # The other tenant keeps everything; the deleted tenant's members keep their accounts.
    assert [n["body"] for n in client.get("/api/notes", headers=bob.headers).json()] == ["bob's"]
    other = uuid.UUID(bob.tenant_id)
    assert (
        tenant_rows(settings.database_url, other, placed=placed_url(app, other))["app_notes"] == 1
    )
    with db.sessions() as session:
        assert session.scalar(select(User.id).where(User.email == "carol@example.com"))


def test_purge_command_removes_expired_tenants(
    app: FastAPI, client: TestClient, settings: Settings, alice: Member, bob: Member
) -> None:
    from typer.testing import CliRunner

    from tenantry_server.cli import app as cli

    client.post("/api/notes", json={"body": "a"}, headers=alice.headers)
    client.delete(f"/api/tenant?confirm={_slug(client, alice)}", headers=alice.headers)
    runner = CliRunner()
    url = settings.database_url
    # With placements the command is told where they are: a tenant's own database goes too.
    placements_file = app.state.settings.placements_file
    purge = ["tenants", "purge", "--db", url] + (
        ["--placements", str(placements_file)] if placements_file is not None else []
    )
    dry = runner.invoke(cli, [*purge, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "0 tenant(s) due" in dry.output  # still within its 30 days
    gone = uuid.UUID(alice.tenant_id)
    placed = placed_url(app, gone)
    with app.state.tenancy.db.session() as session:  # the grace period ran out
        tenant = session.get(Tenant, gone)
        assert tenant is not None
        tenant.purge_after = datetime.now(UTC) - timedelta(seconds=1)
    dry = runner.invoke(cli, [*purge, "--dry-run"])
    assert "1 tenant(s) due" in dry.output and str(gone) in dry.output
    assert tenant_rows(url, gone, placed=placed)["app_notes"] == 1
    done = runner.invoke(cli, purge)
    assert done.exit_code == 0, done.output
    assert "purged 1 tenant(s)" in done.output and str(gone) in done.output
    assert tenant_rows(url, gone, placed=placed)["app_notes"] == 0
    assert client.get("/api/tenant", headers=bob.headers).status_code == 200
    bad = runner.invoke(cli, ["tenants", "purge", "--db", "nosuch://x"])
    assert bad.exit_code == 2 and "bad database URL" in bad.output


def test_purge_now_erases_a_deleted_tenant_within_its_grace_period(
    app: FastAPI, client: TestClient, settings: Settings, alice: Member, bob: Member
) -> None:
    """From a stranger's finance app: an erasure request could not be carried out before
    the grace period ran out (the operator edited purge_after by hand)."""
    from typer.testing import CliRunner

    from tenantry_server.cli import app as cli

    client.post("/api/notes", json={"body": "a"}, headers=alice.headers)
    slug, other = _slug(client, alice), _slug(client, bob)
    client.delete(f"/api/tenant?confirm={slug}", headers=alice.headers)
    url = settings.database_url
    placements_file = app.state.settings.placements_file
    purge = ["tenants", "purge", "--db", url] + (
        ["--placements", str(placements_file)] if placements_file is not None else []
    )
    runner = CliRunner()
    for refused, said in (
        ([other], f"tenant {other!r} is not deleted: delete it first"),  # Bob's is live
        ([slug, "nosuch"], "no tenant has the slug 'nosuch'"),  # all or none
    ):
        done = runner.invoke(cli, [*purge, *(f"--now={s}" for s in refused)])
        assert done.exit_code == 1 and said in done.output, done.output
        assert "nothing was purged" in done.output
    gone = uuid.UUID(alice.tenant_id)
    placed = placed_url(app, gone)
    assert tenant_rows(url, gone, placed=placed)["app_notes"] == 1
    done = runner.invoke(cli, [*purge, "--now", slug])
    assert done.exit_code == 0, done.output
    assert "purged 1 tenant(s)" in done.output and str(gone) in done.output
    assert tenant_rows(url, gone, placed=placed)["app_notes"] == 0
    assert client.get("/api/tenant", headers=bob.headers).status_code == 200
