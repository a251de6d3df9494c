"""The admin API's placements: every tenant's place, and moves started, refused, followed.

Two servers of the backend under test (two SQLite directories, or two PostgreSQL
clusters); the moves run as platform jobs in the app's own queue.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from tenantry.models import AuditEvent, PlacementMove
from tenantry.placement import Placements
from tenantry.placement.move import current_location
from tenantry.placement.router import barrier_key
from tenantry_server.settings import Settings
from tests.conftest import Member
from tests.support.placement import two_server_app
from tests.support.postgres import APP_ROLE

READING = {"read_at": "2026-11-01T07:30:00+00:00", "meter_kwh": "101"}


@pytest.fixture
def app(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FastAPI]:
    with two_server_app(settings, request, tmp_path) as application:
        yield application


def _placement(client: TestClient, operator: Member, tenant_id: str) -> dict[str, Any]:
    response = client.get(f"/api/admin/tenants/{tenant_id}/placement", headers=operator.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _finished(client: TestClient, operator: Member, tenant_id: str) -> dict[str, Any]:
    """The placement once its move is no longer running (a minute at most)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        placement = _placement(client, operator, tenant_id)
        if placement["move"]["status"] != "running":
            return placement
        time.sleep(0.1)
    raise AssertionError(f"the move did not finish: {placement}")


def _move(client: TestClient, operator: Member, tenant_id: str, **body: Any) -> Any:
    return client.post(f"/api/admin/tenants/{tenant_id}/move", json=body, headers=operator.headers)


def _actions(app: FastAPI, tenant_id: str) -> list[tuple[str, int | None, dict[str, Any]]]:
    with app.state.tenancy.db.sessions() as session:
        events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.tenant_id == uuid.UUID(tenant_id))
            .where(AuditEvent.action.like("platform.move%"))
            .order_by(AuditEvent.id)
        ).all()
        return [(e.action, e.actor_id, e.details) for e in events]


def test_an_admin_moves_a_tenant_to_another_server_and_back(
    app: FastAPI, client: TestClient, alice: Member, operator: Member
) -> None:
    t = alice.tenant_id
    assert client.post("/api/readings", json=READING, headers=alice.headers).status_code == 201
    start = _placement(client, operator, t)
    assert (start["kind"], start["state"], start["read_only"], start["move"]) == (
        "shared",
        "active",
        False,
        None,
    )
    listed = client.get("/api/admin/tenants", params={"q": "alice"}, headers=operator.headers)
    assert listed.json()["items"][0]["placement"]["kind"] == "shared"

    started = _move(client, operator, t, to="dedicated", server="two")
    assert started.status_code == 202, started.text
    assert started.json()["move"]["target"]["server"] == "two"
    done = _finished(client, operator, t)
    assert done["move"]["status"] == "done", done
    assert (done["kind"], done["server"], done["state"]) == ("dedicated", "two", "active")
    assert done["move"]["source"]["kind"] == "shared" and done["move"]["finished_at"]
    detail = client.get(f"/api/admin/tenants/{t}", headers=operator.headers).json()
    assert detail["tenant"]["placement"]["database"] == done["database"]
    # Alice notices nothing but her rows in their new place.
    assert client.get("/api/readings", headers=alice.headers).json()["total"] == 1
    second = {**READING, "read_at": "2026-11-02T07:30:00+00:00"}
    assert client.post("/api/readings", json=second, headers=alice.headers).status_code == 201

    # Another server (the least-loaded is "one" now), then back to the shared tables.
    assert _move(client, operator, t, to="dedicated", server="one").status_code == 202
    assert _finished(client, operator, t)["server"] == "one"
    assert _move(client, operator, t, to="shared").status_code == 202
    back = _finished(client, operator, t)
    assert (back["kind"], back["server"], back["move"]["status"]) == ("shared", None, "done")
    assert client.get("/api/readings", headers=alice.headers).json()["total"] == 2

    # Every move is in the tenant's audit trail: asked by the operator, and its outcome.
    trail = _actions(app, t)
    assert [a for a, _, _ in trail] == ["platform.move_started", "platform.move_done"] * 3
    assert {actor for _, actor, _ in trail} == {operator.user_id}
    assert trail[0][2] == {"from": "shared", "to": f"dedicated two/{done['database']}"}


def test_bad_requests_are_clear_errors(
    app: FastAPI, client: TestClient, alice: Member, operator: Member
) -> None:
    t = alice.tenant_id
    cases = [
        ({"to": "shared"}, 409, "move_refused", "shared tables already"),
        ({"to": "dedicated", "server": "nowhere"}, 422, "validation_error", "no server named"),
        ({"to": "shared", "server": "one"}, 422, "validation_error", "dedicated database only"),
        ({"to": "elsewhere"}, 422, "validation_error", ""),
        ({"to": "dedicated", "server": ""}, 422, "validation_error", ""),
        ({}, 422, "validation_error", ""),
    ]
    for body, status, code, words in cases:
        response = _move(client, operator, t, **body)
        assert response.status_code == status, (body, response.text)
        error = response.json()["error"]
        assert error["code"] == code and words in error["message"], (body, error)
    # Unknown tenants: a 404 in JSON. The routes name tenants by id, as all of /api/admin
    # does: a slug in its place is a validation error, in JSON too.
    for who, status, code in (
        (str(uuid.uuid4()), 404, "tenant_not_found"),
        ("no-such-tenant", 422, "validation_error"),
    ):
        for response in (
            _move(client, operator, who, to="dedicated"),
            client.get(f"/api/admin/tenants/{who}/placement", headers=operator.headers),
        ):
            assert response.status_code == status, response.text
            assert response.json()["error"]["code"] == code
    # Where it is already: refused without a move.
    assert _move(client, operator, t, to="dedicated", server="one").status_code == 202
    assert _finished(client, operator, t)["move"]["status"] == "done"
    again = _move(client, operator, t, to="dedicated", server="one")
    assert again.status_code == 409 and "already" in again.json()["error"]["message"]
    assert _move(client, operator, t, to="dedicated").status_code == 409
    assert [a for a, _, _ in _actions(app, t)] == ["platform.move_started", "platform.move_done"]


@contextmanager
def _writer_in_flight(placements: Placements, tenant_id: uuid.UUID) -> Iterator[None]:
    """A write of the tenant that has passed its barrier and not committed yet, in its
    database: the move waits for it (its drain step) with the tenant already read-only."""
    location, _ = current_location(placements, tenant_id)
    url = make_url(placements.url_of(location))
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(url.database), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = create_engine(url)
    try:
        with engine.connect() as pg:
            pg.execute(
                text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": barrier_key(tenant_id)}
            )
            yield
            pg.rollback()
    finally:
        engine.dispose()


def _wait_for(client: TestClient, operator: Member, tenant_id: str, step: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        placement = _placement(client, operator, tenant_id)
        if placement["move"]["step"] == step:
            return placement
        time.sleep(0.05)
    raise AssertionError(f"the move never reached {step}: {placement}")


def test_a_running_move_is_shown_and_a_second_one_refused(
    app: FastAPI, client: TestClient, alice: Member, operator: Member
) -> None:
    t = alice.tenant_id
    assert client.post("/api/readings", json=READING, headers=alice.headers).status_code == 201
    assert _move(client, operator, t, to="dedicated", server="one").status_code == 202
    assert _finished(client, operator, t)["move"]["status"] == "done"
    placements: Placements = app.state.tenancy.placements
    with _writer_in_flight(placements, uuid.UUID(t)):
        assert _move(client, operator, t, to="dedicated", server="two").status_code == 202
        running = _wait_for(client, operator, t, "marked")  # waiting for the write to end
        assert running["move"]["status"] == "running" and running["read_only"] is True
        assert running["state"] == "moving" and running["server"] == "one"
        refused = _move(client, operator, t, to="shared")
        assert refused.status_code == 409 and "running" in refused.json()["error"]["message"]
        # Reads go on from the source meanwhile.
        assert client.get("/api/readings", headers=alice.headers).json()["total"] == 1
    done = _finished(client, operator, t)
    assert (done["move"]["status"], done["server"], done["read_only"]) == ("done", "two", False)
    later = {**READING, "read_at": "2026-11-03T07:30:00+00:00"}
    assert client.post("/api/readings", json=later, headers=alice.headers).status_code == 201
    assert [a for a, _, _ in _actions(app, t)].count("platform.move_started") == 2


def test_a_failed_move_says_why_and_leaves_the_tenant_where_it_was(
    app: FastAPI, client: TestClient, settings: Settings, alice: Member, operator: Member
) -> None:
    """A table of the tenant's that the target database lacks stops the move before the
    switch: the job records the reason, the tenant stays shared and writable."""
    t = alice.tenant_id
    owner_url = settings.migration_database_url or settings.database_url
    engine = create_engine(owner_url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("CREATE TABLE extra_things (id INTEGER PRIMARY KEY, tenant_id UUID)"))
            conn.execute(text(f"GRANT SELECT ON extra_things TO {APP_ROLE}"))
            conn.execute(text("INSERT INTO extra_things VALUES (1, :t)"), {"t": t})
        else:  # tenantry's SQLite UUIDs: 32 hex digits
            conn.execute(
                text("CREATE TABLE extra_things (id INTEGER PRIMARY KEY, tenant_id CHAR(32))")
            )
            conn.execute(text("INSERT INTO extra_things VALUES (1, :t)"), {"t": uuid.UUID(t).hex})
    engine.dispose()
    assert _move(client, operator, t, to="dedicated", server="two").status_code == 202
    failed = _finished(client, operator, t)
    assert failed["move"]["status"] == "failed"
    assert "extra_things" in failed["move"]["error"], failed
    assert (failed["kind"], failed["state"], failed["read_only"]) == ("shared", "active", False)
    assert client.post("/api/readings", json=READING, headers=alice.headers).status_code == 201
    trail = _actions(app, t)
    assert [a for a, _, _ in trail] == ["platform.move_started", "platform.move_failed"]
    assert "extra_things" in trail[1][2]["error"]
    with app.state.tenancy.db.sessions() as session:
        claim = session.get(PlacementMove, uuid.UUID(t))
        assert claim is not None and claim.finished_at is not None


def test_no_one_but_a_platform_admin_sees_placements_or_moves_a_tenant(
    app: FastAPI, client: TestClient, alice: Member, bob: Member
) -> None:
    """Alice owns her tenant; Bob owns another: neither reaches the routes (a missing
    route's 404), for her tenant or his, and nothing is claimed or moved."""
    for who in (alice, bob):
        for target in (alice.tenant_id, bob.tenant_id):
            looked = client.get(f"/api/admin/tenants/{target}/placement", headers=who.headers)
            moved = client.post(
                f"/api/admin/tenants/{target}/move",
                json={"to": "dedicated", "server": "one"},
                headers=who.headers,
            )
            for response in (looked, moved):
                assert response.status_code == 404
                assert response.json()["error"]["code"] == "not_found"
            assert "one" not in looked.text and "shared" not in looked.text
        page = client.post(
            f"/console/tenants/{alice.tenant_id}/move",
            data={"target": "dedicated:one"},
            headers=who.headers,
        )
        assert page.status_code == 404
    time.sleep(0.3)  # a move that slipped through would have been queued by now
    placements: Placements = app.state.tenancy.placements
    with app.state.tenancy.db.sessions() as session:
        assert session.scalars(select(PlacementMove)).all() == []
    for member in (alice, bob):
        assert current_location(placements, uuid.UUID(member.tenant_id))[0].is_shared
