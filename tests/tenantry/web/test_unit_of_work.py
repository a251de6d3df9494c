"""A request's changes are committed for its tenant, flushed by the route or not (#13.1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from tenantry.errors import Conflict
from tenantry.web import AsyncDbSession, DbSession, MemberContext
from tenantry_server.settings import Settings
from tests.conftest import Member, register
from tests.notes_app import AppNote, NoteIn
from tests.support.routes import client_with

router = APIRouter(prefix="/api/uow")


@router.post("/notes", status_code=201)
async def insert_without_flush(body: NoteIn, ctx: MemberContext, session: DbSession) -> None:
    session.add(AppNote(body=body.body))


@router.post("/anotes", status_code=201)
async def async_insert_without_flush(
    body: NoteIn, ctx: MemberContext, session: AsyncDbSession
) -> None:
    session.add(AppNote(body=body.body))


@router.get("/write-in-a-get")
def write_in_a_get(ctx: MemberContext, session: DbSession) -> None:
    session.add(AppNote(body="written by a GET"))


@router.get("/awrite-in-a-get")
async def async_write_in_a_get(ctx: MemberContext, session: AsyncDbSession) -> None:
    session.add(AppNote(body="written by a GET"))


@router.post("/notes/{note_id}/fail")
async def change_then_fail(note_id: int, ctx: MemberContext, session: DbSession) -> None:
    note = session.get(AppNote, (ctx.tenant_id, note_id))
    assert note is not None
    note.body = "changed by a failing route"
    session.add(AppNote(body="added by a failing route"))
    raise Conflict("refused after changing rows")


@pytest.fixture
def uow_client(settings: Settings) -> Iterator[TestClient]:
    with client_with(settings, "uow", router) as client:
        yield client


def _bodies(client: TestClient, member: Member) -> list[str]:
    response = client.get("/api/notes", headers=member.headers)
    assert response.status_code == 200
    return [n["body"] for n in response.json()]


def _note(client: TestClient, member: Member, body: str) -> int:
    response = client.post("/api/notes", json={"body": body}, headers=member.headers)
    assert response.status_code == 201
    note_id: int = response.json()["id"]
    return note_id


SYNC_AND_ASYNC = pytest.mark.parametrize("kind", ["notes", "anotes"])


@SYNC_AND_ASYNC
def test_insert_without_flush_is_committed(uow_client: TestClient, kind: str) -> None:
    alice = register(uow_client, "alice@example.com")
    response = uow_client.post(f"/api/uow/{kind}", json={"body": "quiet"}, headers=alice.headers)
    assert response.status_code == 201, response.text
    assert _bodies(uow_client, alice) == ["quiet"]


@SYNC_AND_ASYNC
def test_update_without_flush_is_committed(uow_client: TestClient, kind: str) -> None:
    alice = register(uow_client, "alice@example.com")
    note_id = _note(uow_client, alice, "before")
    response = uow_client.put(
        f"/api/{kind}/{note_id}", json={"body": "after"}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    assert _bodies(uow_client, alice) == ["after"]


@SYNC_AND_ASYNC
def test_delete_without_flush_is_committed(uow_client: TestClient, kind: str) -> None:
    alice = register(uow_client, "alice@example.com")
    note_id = _note(uow_client, alice, "doomed")
    response = uow_client.delete(f"/api/{kind}/{note_id}", headers=alice.headers)
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


@pytest.mark.parametrize("route", ["write-in-a-get", "awrite-in-a-get"])
def test_a_get_cannot_write(uow_client: TestClient, route: str) -> None:
    alice = register(uow_client, "alice@example.com")
    response = uow_client.get(f"/api/uow/{route}", headers=alice.headers)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert _bodies(uow_client, alice) == []


def test_async_routes_see_only_their_tenant(uow_client: TestClient) -> None:
    alice = register(uow_client, "alice@example.com")
    bob = register(uow_client, "bob@example.com")
    note_id = _note(uow_client, alice, "alice's")
    assert uow_client.get("/api/anotes", headers=bob.headers).json() == []
    assert uow_client.get(f"/api/anotes/{note_id}", headers=bob.headers).status_code == 404
    put = uow_client.put(f"/api/anotes/{note_id}", json={"body": "bob"}, headers=bob.headers)
    assert put.status_code == 404
    assert uow_client.delete(f"/api/anotes/{note_id}", headers=bob.headers).status_code == 404
    assert uow_client.get(f"/api/anotes/{note_id}", headers=alice.headers).json() == {
        "id": note_id,
        "body": "alice's",
    }
