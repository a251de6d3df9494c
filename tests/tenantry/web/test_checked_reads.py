"""A route's membership check, wherever it runs, counts a change on the next request.

On PostgreSQL a claim whose check passed lately is checked again as the first statement
of the route's own transaction (``Reads``, ``AsyncDbSession``), which also sets the RLS
tenant; a claim never checked, or refused last time, and a ``DbSession`` route's, are
checked first. Every test warms the claim up before the change, so the change meets the
check where it runs once known; the tests run on both backends and all three kinds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from tenantry.db import Database
from tenantry.models import Tenant, User
from tenantry.testing import invite_code
from tenantry.web import (
    AdminContext,
    AsyncDbSession,
    DbSession,
    MemberContext,
    Reads,
    ViewerContext,
    Writes,
)
from tenantry_server.settings import Settings
from tests.conftest import Member, invite_and_join, only_postgresql, register
from tests.notes_app import AppNote
from tests.support.routes import client_with

router = APIRouter(prefix="/api/checked")


def _notes(session: Session) -> list[str]:
    return list(session.scalars(select(AppNote.body).order_by(AppNote.id)))


@router.get("/notes")
async def notes(ctx: ViewerContext, reads: Reads) -> dict[str, Any]:
    return {"role": ctx.role.value, "notes": await reads.run(_notes)}


@router.get("/sync")
def sync_notes(ctx: ViewerContext, session: DbSession) -> dict[str, Any]:
    return {"role": ctx.role.value, "notes": _notes(session)}


@router.get("/async")
async def async_notes(ctx: ViewerContext, session: AsyncDbSession) -> dict[str, Any]:
    return {"role": ctx.role.value, "notes": await session.run_sync(_notes)}


@router.get("/admin")
async def admin_notes(ctx: AdminContext, reads: Reads) -> dict[str, Any]:
    return {"notes": await reads.run(_notes)}


@router.get("/sync-admin")
def sync_admin_notes(ctx: AdminContext, session: DbSession) -> dict[str, Any]:
    return {"notes": _notes(session)}


@router.post("/sync", status_code=201)
def sync_write(ctx: MemberContext, session: DbSession) -> dict[str, str]:
    session.add(AppNote(tenant_id=ctx.tenant_id, body="written"))
    return {"ok": "yes"}


@router.post("/async", status_code=201)
async def async_write(ctx: MemberContext, session: AsyncDbSession) -> dict[str, str]:
    session.add(AppNote(tenant_id=ctx.tenant_id, body="written"))
    return {"ok": "yes"}


def _add_note(session: Session, body: str) -> int:
    note = AppNote(body=body)  # tenant_id stamped by the session's tenant
    session.add(note)
    session.flush()
    return note.id


@router.post("/writes", status_code=201)
async def writes_write(ctx: MemberContext, writes: Writes) -> dict[str, int]:
    return {"id": await writes.run(_add_note, "written")}


# The three ways a route reads: Reads, DbSession (a def route), AsyncDbSession.
KINDS = ["/api/checked/notes", "/api/checked/sync", "/api/checked/async"]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with client_with(settings, "checked-reads-test", router) as test_client:
        yield test_client


def _warm(client: TestClient, who: Member, path: str = "/api/checked/notes") -> Any:
    for _ in range(2):
        answer = client.get(path, headers=who.headers)
        assert answer.status_code == 200, answer.text
    return answer.json()


def _write(client: TestClient, who: Member, body: str) -> None:
    assert client.post("/api/notes", json={"body": body}, headers=who.headers).status_code == 201


def _two_tenants(client: TestClient) -> tuple[Member, Member]:
    """Alice and Bob, owners of a tenant each, with a note each."""
    alice = register(client, "alice@example.com")
    bob = register(client, "bob@example.com")
    _write(client, alice, "alice's meter")
    _write(client, bob, "bob's meter")
    return alice, bob


def _control(client: TestClient) -> AbstractContextManager[Session]:
    """A committed session on the server's database (control tables: no tenant needed)."""
    db: Database = client.app.state.tenancy.db  # type: ignore[attr-defined]
    return db.session()


def _error(answer: Any) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


@pytest.mark.parametrize("path", KINDS)
def test_a_removed_member_is_refused_on_the_next_request(client: TestClient, path: str) -> None:
    alice = register(client, "alice@example.com")
    _write(client, alice, "alice's meter")
    member = invite_and_join(client, alice, "m@example.com")
    assert _warm(client, member, path)["notes"] == ["alice's meter"]
    removed = client.delete(f"/api/tenant/members/{member.user_id}", headers=alice.headers)
    assert removed.status_code == 204
    for _ in range(2):  # the check in the route's transaction refuses, then the one before
        answer = client.get(path, headers=member.headers)
        assert _error(answer) == (404, "tenant_not_found")
        assert "alice's meter" not in answer.text


@pytest.mark.parametrize("path", ["/api/checked/admin", "/api/checked/sync-admin"])
def test_a_downgrade_counts_on_the_next_request(client: TestClient, path: str) -> None:
    alice = register(client, "alice@example.com")
    admin = invite_and_join(client, alice, "a@example.com", role="admin")
    _warm(client, admin, path)
    changed = client.patch(
        f"/api/tenant/members/{admin.user_id}", json={"role": "viewer"}, headers=alice.headers
    )
    assert changed.status_code == 200
    assert _error(client.get(path, headers=admin.headers)) == (403, "forbidden")
    assert client.get("/api/checked/notes", headers=admin.headers).json()["role"] == "viewer"


@pytest.mark.parametrize("path", ["/api/checked/sync", "/api/checked/async", "/api/checked/writes"])
def test_a_downgraded_writer_writes_nothing(client: TestClient, path: str) -> None:
    alice = register(client, "alice@example.com")
    member = invite_and_join(client, alice, "m@example.com")
    for _ in range(2):  # written and committed, the second in the check's transaction
        assert client.post(path, headers=member.headers).status_code == 201
    changed = client.patch(
        f"/api/tenant/members/{member.user_id}", json={"role": "viewer"}, headers=alice.headers
    )
    assert changed.status_code == 200
    assert _error(client.post(path, headers=member.headers)) == (403, "forbidden")
    assert _warm(client, alice)["notes"] == ["written", "written"]


def test_an_upgrade_shows_on_the_next_request(client: TestClient) -> None:
    alice = register(client, "alice@example.com")
    viewer = invite_and_join(client, alice, "v@example.com", role="viewer")
    assert _warm(client, viewer)["role"] == "viewer"
    changed = client.patch(
        f"/api/tenant/members/{viewer.user_id}", json={"role": "admin"}, headers=alice.headers
    )
    assert changed.status_code == 200
    assert client.get("/api/checked/notes", headers=viewer.headers).json()["role"] == "admin"
    assert client.get("/api/checked/admin", headers=viewer.headers).status_code == 200


@pytest.mark.parametrize("path", KINDS)
def test_a_suspension_counts_on_the_next_request(client: TestClient, path: str) -> None:
    alice = register(client, "alice@example.com")
    _warm(client, alice, path)
    with _control(client) as session:
        session.execute(
            update(Tenant).where(Tenant.id == uuid.UUID(alice.tenant_id)).values(status="suspended")
        )
    assert _error(client.get(path, headers=alice.headers)) == (403, "tenant_suspended")


def test_an_ended_session_counts_on_the_next_request(client: TestClient) -> None:
    alice = register(client, "alice@example.com")
    _warm(client, alice)
    with _control(client) as session:
        session.execute(
            update(User)
            .where(User.id == alice.user_id)
            .values(session_version=User.session_version + 1)
        )
    assert _error(client.get("/api/checked/notes", headers=alice.headers))[0] == 401


@pytest.mark.parametrize("path", KINDS)
def test_naming_another_tenant_gets_nothing_of_it(client: TestClient, path: str) -> None:
    alice, bob = _two_tenants(client)
    assert _warm(client, bob, path)["notes"] == ["bob's meter"]
    for _ in range(2):  # refused twice: a refused claim is never taken as known
        answer = client.get(path, headers={**bob.headers, "X-Tenant-ID": alice.tenant_id})
        assert _error(answer) == (404, "tenant_not_found")
        assert "alice's meter" not in answer.text
    assert client.get(path, headers=bob.headers).json()["notes"] == ["bob's meter"]


@pytest.mark.parametrize("path", KINDS)
def test_one_person_in_two_tenants_sees_each_apart(client: TestClient, path: str) -> None:
    alice, bob = _two_tenants(client)
    code = invite_code(client, bob, role="viewer")
    joined = client.post("/api/invites/join", json={"code": code}, headers=alice.headers)
    assert joined.status_code == 200, joined.text
    in_bobs = {**alice.headers, "X-Tenant-ID": bob.tenant_id}
    for _ in range(3):  # both claims known after the first round
        own = client.get(path, headers=alice.headers).json()
        other = client.get(path, headers=in_bobs).json()
        assert (own["role"], own["notes"]) == ("owner", ["alice's meter"])
        assert (other["role"], other["notes"]) == ("viewer", ["bob's meter"])


@only_postgresql
def test_a_known_claim_is_checked_in_its_reads_transaction(client: TestClient) -> None:
    alice = register(client, "alice@example.com")
    _write(client, alice, "alice's meter")
    viewer = invite_and_join(client, alice, "v@example.com", role="viewer")  # a claim not seen
    engine = client.app.state.tenancy.async_reads.engine.sync_engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        first = client.get("/api/checked/notes", headers=viewer.headers)
        cold, seen[:] = list(seen), []
        second = client.get("/api/checked/notes", headers=viewer.headers)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert first.json()["notes"] == second.json()["notes"] == ["alice's meter"]
    # Not known yet: checked on its own before the slot, then the RLS setting, then the read.
    assert len(cold) == 3, cold
    assert "tenantry_memberships" in cold[0] and "set_config" not in cold[0]
    assert "set_config" in cold[1] and "app_notes" in cold[2]
    # Known: one statement checks the membership and sets the tenant, then the route reads.
    assert len(seen) == 2, seen
    assert "tenantry_memberships" in seen[0] and "set_config" in seen[0]
    assert "app_notes" in seen[1]


@only_postgresql
def test_a_known_claims_write_is_checked_in_its_transaction(client: TestClient) -> None:
    alice = register(client, "alice@example.com")
    member = invite_and_join(client, alice, "m@example.com")
    engine = client.app.state.tenancy.async_reads.engine.sync_engine  # type: ignore[attr-defined]
    assert client.post("/api/checked/writes", headers=member.headers).status_code == 201
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        assert client.post("/api/checked/writes", headers=member.headers).status_code == 201
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert "tenantry_memberships" in seen[0] and "set_config" in seen[0], seen
    assert not any("tenantry_memberships" in s for s in seen[1:]), seen
    assert any(s.startswith("INSERT INTO app_notes") for s in seen[1:]), seen
    assert _warm(client, alice)["notes"] == ["written", "written"]
