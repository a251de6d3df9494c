"""The platform admins' import route: invisible to everyone else, all or nothing, verified."""

from __future__ import annotations

import copy
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from tenantry.export import ArrayWriter
from tenantry.models import Tenant, User
from tests.conftest import Member, invite_and_join, register


def _exported(client: TestClient, member: Member) -> dict[str, Any]:
    response = client.get("/api/export", headers=member.headers)
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


def _make_admin(app: FastAPI, member: Member) -> None:
    with app.state.tenancy.db.session() as session:
        session.execute(
            update(User).where(User.id == member.user_id).values(is_platform_admin=True)
        )


def _tenants(app: FastAPI) -> int:
    with app.state.tenancy.db.sessions() as session:
        return session.scalar(select(func.count()).select_from(Tenant)) or 0


def _post(client: TestClient, doc: dict[str, Any], member: Member | None) -> Any:
    headers = {"Content-Type": "application/json", **(member.headers if member else {})}
    return client.post("/api/admin/tenants/import", content=orjson.dumps(doc), headers=headers)


def _reseal(doc: dict[str, Any]) -> dict[str, Any]:
    """Recompute the summary after an edit, as a careful forger would."""
    for name, rows in doc["tables"].items():
        writer = ArrayWriter()
        writer.chunk(rows)
        doc["summary"]["rows"][name] = len(rows)
        doc["summary"]["checksums"][name] = writer.checksum
    return doc


def test_everyone_but_a_platform_admin_gets_the_unknown_route_404(
    client: TestClient, alice: Member
) -> None:
    doc = _exported(client, alice)
    missing = client.post("/api/admin/no-such-route", json={}, headers=alice.headers)
    assert missing.status_code == 404
    for who in (alice, None):
        response = _post(client, doc, who)
        assert (response.status_code, response.text) == (404, missing.text)
    bad_token = client.post(
        "/api/admin/tenants/import", json=doc, headers={"Authorization": "Bearer nope"}
    )
    assert (bad_token.status_code, bad_token.text) == (404, missing.text)
    assert client.get("/api/admin/tenants/import", headers=alice.headers).status_code == 404


def test_import_recreates_a_purged_tenant_with_its_ids(
    app: FastAPI, client: TestClient, alice: Member, bob: Member
) -> None:
    invite_and_join(client, alice, "carol@example.com", role="viewer")
    note = client.post("/api/notes", json={"body": "kept"}, headers=alice.headers).json()
    doc = _exported(client, alice)
    _make_admin(app, bob)
    taken = _post(client, doc, bob)  # the tenant still exists here
    assert taken.status_code == 409
    assert "already exists" in taken.json()["error"]["message"]
    from datetime import UTC, datetime, timedelta

    from tenantry.retention import purge_expired

    slug = doc["tenant"]["slug"]
    client.delete(f"/api/tenant?confirm={slug}", headers=alice.headers)
    with app.state.tenancy.db.session() as session:
        purge_expired(session, now=datetime.now(UTC) + timedelta(days=31))
    with app.state.tenancy.db.session() as session:  # Carol has no account here any more
        session.execute(
            update(User).where(User.email == "carol@example.com").values(email="c2@x.org")
        )
    response = _post(client, doc, bob)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["tenant_id"] == alice.tenant_id and body["slug"] == slug
    assert body["rows"]["app_notes"] == 1
    assert all(c["ok"] for c in body["checks"])
    outcome = {m["email"]: m for m in body["members"]}
    assert outcome["alice@example.com"]["status"] == "matched"
    assert outcome["alice@example.com"]["user_id"] == alice.user_id
    assert outcome["carol@example.com"]["status"] == "invited"
    code = outcome["carol@example.com"]["invite_code"]
    postman = app.state.tenancy.postman
    assert postman.wait_idle()
    invitation = postman.mailer.find("carol@example.com", "invitation")
    assert invitation is not None, "the invited member was not mailed"
    assert code in invitation.get_body(("plain",)).get_content()
    # Alice is back in with the same ids; Carol's invite only works for her address.
    again = client.post(
        "/api/auth/login", json={"email": alice.email, "password": "correct horse battery"}
    )
    token = again.json()["access_token"]
    switched = client.post(
        "/api/auth/switch",
        json={"tenant_id": alice.tenant_id},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["access_token"]
    notes = client.get("/api/notes", headers={"Authorization": f"Bearer {switched}"}).json()
    assert notes == [{"id": note["id"], "body": "kept"}]
    stranger = register(client, "dave@example.com")
    assert (
        client.post("/api/invites/join", json={"code": code}, headers=stranger.headers).status_code
        == 400
    )
    carol = register(client, "carol@example.com", invite_code=code)
    assert carol.tenant_id == alice.tenant_id


def test_refusals_write_nothing(
    app: FastAPI, client: TestClient, alice: Member, bob: Member
) -> None:
    client.post("/api/notes", json={"body": "n"}, headers=alice.headers)
    original = _exported(client, alice)
    _make_admin(app, bob)
    fresh = copy.deepcopy(original)
    fresh["tenant"]["id"] = "6f1c0b9e-1d2a-4c1e-9a55-0f6f0d7a9b11"
    before = _tenants(app)

    def refused(doc: dict[str, Any] | bytes) -> str:
        content = doc if isinstance(doc, bytes) else orjson.dumps(doc)
        response = client.post(
            "/api/admin/tenants/import",
            content=content,
            headers={"Content-Type": "application/json", **bob.headers},
        )
        assert response.status_code == 422, response.text
        assert _tenants(app) == before
        message: str = response.json()["error"]["message"]
        return message

    assert "not a JSON document" in refused(b"{nope")
    assert "not a tenantry export" in refused({"format": "something/1"})
    newer = copy.deepcopy(fresh)
    newer["format"] = "tenantry-export/2"
    assert "newer tenantry" in refused(newer)
    column = copy.deepcopy(fresh)
    column["tables"]["app_notes"][0]["colour"] = "red"
    column["schema"]["revisions"] = ["0099_future"]
    message = refused(_reseal(column))
    assert "newer schema (0099_future)" in message and "app_notes.colour" in message
    table = copy.deepcopy(fresh)
    table["tables"]["gadgets"] = []
    assert "table gadgets" in refused(table)
    edited = copy.deepcopy(fresh)
    edited["tables"]["app_notes"][0]["body"] = "forged"
    assert "changed after export" in refused(edited)
    cut = copy.deepcopy(fresh)
    cut["tables"]["app_notes"] = []
    assert "incomplete" in refused(cut)
    # Consistent summary but rows the database refuses: rolled back, tenant row included.
    twice = copy.deepcopy(fresh)
    twice["tables"]["app_notes"] *= 2
    assert "database refused a row" in refused(_reseal(twice))
    keyless = copy.deepcopy(fresh)
    keyless["tables"]["app_notes"].append({"body": "no id"})
    assert "every row needs its key" in refused(_reseal(keyless))
    orphan = copy.deepcopy(fresh)
    orphan["tables"]["app_comments"] = [{"id": 5, "note_id": 999, "text": "orphan"}]
    assert "database refused a row" in refused(_reseal(orphan))
    unknown = copy.deepcopy(fresh)
    unknown["tenant"]["plan"] = "platinum"  # not a plan of this instance
    assert "'platinum' is not offered here (plans: free, household, pro)" in refused(unknown)
    ok = client.post(
        "/api/admin/tenants/import?plan=household",
        content=orjson.dumps(unknown),
        headers={"Content-Type": "application/json", **bob.headers},
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["slug"] != original["tenant"]["slug"]  # the slug was taken here
    assert ok.json()["plan"] == "household"
    assert _tenants(app) == before + 1


def test_a_row_referring_to_one_nowhere_names_its_table(
    app: FastAPI, client: TestClient, alice: Member, bob: Member
) -> None:
    """A row whose reference the database refused was "the database refused a row:
    FOREIGN KEY constraint failed", naming neither the table nor the likely cause."""
    client.post("/api/notes", json={"body": "n"}, headers=alice.headers)
    doc = _exported(client, alice)
    doc["tenant"]["id"] = "3d1f5a20-7b7c-4b8e-9d0e-5c6a7b8c9d0e"
    doc["tables"]["app_comments"] = [{"id": 4242, "note_id": 2**50, "text": "orphan"}]
    _make_admin(app, bob)
    before = _tenants(app)
    response = _post(client, _reseal(doc), bob)
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert message.startswith("app_comments: the database refused a row"), message
    assert "refers to one neither the document nor this database has" in message
    assert _tenants(app) == before


def test_a_value_that_cannot_be_stored_is_a_422_not_a_500(
    app: FastAPI, client: TestClient, alice: Member, bob: Member
) -> None:
    """Each of these answered 500 internal_error (or, on SQLite, imported text into an
    INTEGER column, and the household's readings answered 500 from then on)."""
    reading = {"read_at": "2026-11-01T07:00:00+00:00", "meter_kwh": "10"}
    assert client.post("/api/readings", json=reading, headers=alice.headers).status_code == 201
    original = _exported(client, alice)
    original["tenant"]["id"] = "0b6a3f62-2f0c-4f7e-8d6b-3a4b9c1d2e3f"
    _make_admin(app, bob)
    before = _tenants(app)
    edits = {
        "readings.meter_wh": lambda doc: doc["tables"]["readings"][0].update(meter_wh="lots"),
        "readings.read_at": lambda doc: doc["tables"]["readings"][0].update(
            read_at="2026-11-01T07:00:00"
        ),
        "readings.note": lambda doc: doc["tables"]["readings"][0].update(note={"a": 1}),
        "created_at": lambda doc: doc["tenant"].update(created_at="soon"),
    }
    for said, edit in edits.items():
        doc = copy.deepcopy(original)
        edit(doc)
        response = _post(client, _reseal(doc), bob)
        assert response.status_code == 422, (said, response.text)
        error = response.json()["error"]
        assert error["code"] == "import_refused" and said in error["message"]
    assert _tenants(app) == before


def test_create_accounts_keeps_members_and_authorship(
    app: FastAPI, client: TestClient, alice: Member, bob: Member
) -> None:
    from datetime import UTC, datetime, timedelta

    from tenantry.retention import purge_expired

    carol = invite_and_join(client, alice, "carol@example.com")
    reading = {"read_at": "2026-11-01T07:00:00+00:00", "meter_kwh": "10"}
    assert client.post("/api/readings", json=reading, headers=carol.headers).status_code == 201
    doc = _exported(client, alice)
    client.delete(f"/api/tenant?confirm={doc['tenant']['slug']}", headers=alice.headers)
    with app.state.tenancy.db.session() as session:
        purge_expired(session, now=datetime.now(UTC) + timedelta(days=31))
        session.execute(update(User).where(User.id == carol.user_id).values(email="gone@x.org"))
    _make_admin(app, bob)
    response = client.post(
        "/api/admin/tenants/import?create_accounts=true",
        content=orjson.dumps(doc),
        headers={"Content-Type": "application/json", **bob.headers},
    )
    assert response.status_code == 201, response.text
    created = next(m for m in response.json()["members"] if m["email"] == "carol@example.com")
    assert created["status"] == "created" and created["invite_code"] is None
    # A member at once, author of her reading again, but no password until a reset.
    login = client.post(
        "/api/auth/login", json={"email": "carol@example.com", "password": "correct horse battery"}
    )
    assert login.status_code == 401
    again = _exported(client, alice)
    assert {m["email"] for m in again["members"]} == {"alice@example.com", "carol@example.com"}
    assert [r["created_by"] for r in again["tables"]["readings"]] == [created["user_id"]]
