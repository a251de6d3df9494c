"""A request's changes are committed for its tenant, flushed by the route or not (#13.1)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from tenantry.db import Database
from tenantry.errors import Conflict
from tenantry.web import DbSession, MemberContext, Tenancy
from tenantry_server.app import create_app, default_plugins
from tenantry_server.settings import Settings
from tests.conftest import FAST_PASSWORDS, Member, register
from tests.notes_app import AppNote, NoteIn, NotesPlugin

router = APIRouter(prefix="/api/uow")


@router.post("/notes", status_code=201)
async def insert_without_flush(body: NoteIn, ctx: MemberContext, session: DbSession) -> None:
    session.add(AppNote(body=body.body))


@router.post("/notes/{note_id}/fail")
async def change_then_fail(note_id: int, ctx: MemberContext, session: DbSession) -> None:
    note = session.get(AppNote, (ctx.tenant_id, note_id))
    assert note is not None
    note.body = "changed by a failing route"
    session.add(AppNote(body="added by a failing route"))
    raise Conflict("refused after changing rows")


class UnitOfWorkPlugin:
    name = "uow"
    migrations: Sequence[Path] = ()

    def install(self, app: FastAPI, tenancy: Tenancy) -> None:
        app.include_router(router)

    def seed_demo(self, db: Database, tenancy: Tenancy) -> list[str]:
        return []


@pytest.fixture
def uow_client(settings: Settings) -> Iterator[TestClient]:
    plugins = [*default_plugins(), NotesPlugin(), UnitOfWorkPlugin()]
    app = create_app(settings, plugins, passwords=FAST_PASSWORDS)
    with TestClient(app) as client:
        yield client
    app.state.tenancy.db.dispose()


def _bodies(client: TestClient, member: Member) -> list[str]:
    response = client.get("/api/notes", headers=member.headers)
    assert response.status_code == 200
    return [n["body"] for n in response.json()]


def _note(client: TestClient, member: Member, body: str) -> int:
    response = client.post("/api/notes", json={"body": body}, headers=member.headers)
    assert response.status_code == 201
    note_id: int = response.json()["id"]
    return note_id


def test_insert_without_flush_is_committed(uow_client: TestClient) -> None:
    alice = register(uow_client, "alice@example.com")
    response = uow_client.post("/api/uow/notes", json={"body": "quiet"}, headers=alice.headers)
    assert response.status_code == 201, response.text
    assert _bodies(uow_client, alice) == ["quiet"]


def test_update_without_flush_is_committed(uow_client: TestClient) -> None:
    alice = register(uow_client, "alice@example.com")
    note_id = _note(uow_client, alice, "before")
    response = uow_client.put(
        f"/api/notes/{note_id}", json={"body": "after"}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    assert _bodies(uow_client, alice) == ["after"]


def test_delete_without_flush_is_committed(uow_client: TestClient) -> None:
    alice = register(uow_client, "alice@example.com")
    note_id = _note(uow_client, alice, "doomed")
    response = uow_client.delete(f"/api/notes/{note_id}", headers=alice.headers)
    assert response.status_code == 204, response.text
    assert _bodies(uow_client, alice) == []


def test_a_failing_route_rolls_everything_back(uow_client: TestClient) -> None:
    alice = register(uow_client, "alice@example.com")
    note_id = _note(uow_client, alice, "kept")
    response = uow_client.post(f"/api/uow/notes/{note_id}/fail", headers=alice.headers)
    assert response.status_code == 409
    assert _bodies(uow_client, alice) == ["kept"]


def test_an_unflushed_insert_lands_in_the_callers_tenant_only(uow_client: TestClient) -> None:
    alice = register(uow_client, "alice@example.com")
    bob = register(uow_client, "bob@example.com")
    uow_client.post("/api/uow/notes", json={"body": "alice's"}, headers=alice.headers)
    assert _bodies(uow_client, bob) == []
    assert _bodies(uow_client, alice) == ["alice's"]
    # Bob cannot update Alice's note by id: it is not found for him, and stays as it was.
    alice_note = uow_client.get("/api/notes", headers=alice.headers).json()[0]["id"]
    response = uow_client.put(
        f"/api/notes/{alice_note}", json={"body": "bob was here"}, headers=bob.headers
    )
    assert response.status_code == 404
    assert _bodies(uow_client, alice) == ["alice's"]
