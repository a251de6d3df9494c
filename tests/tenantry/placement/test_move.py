"""Moving a tenant: copy, verify, switch, clean; read-only meanwhile; safe under kill -9."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from meterbook.models import Reading, Voucher
from tenantry.models import TenantPlacement
from tenantry.placement import Location, Placements
from tenantry.placement.checks import check_placements
from tenantry.placement.move import MoveFailed, current_location, move_tenant
from tenantry.placement.strays import stray_copies
from tenantry.testing import Member, invite_and_join, register
from tests.conftest import only_sqlite
from tests.notes_app import AppNote

ROOT = Path(__file__).resolve().parents[3]


def _placements(client: TestClient) -> Placements:
    placements: Placements = client.app.state.tenancy.placements  # type: ignore[attr-defined]
    return placements


def _fill(client: TestClient) -> tuple[Member, Member]:
    alice = register(client, "alice@example.com")
    bob = invite_and_join(client, alice, "bob@example.com")
    for who, day in ((alice, 1), (bob, 2), (alice, 3), (bob, 4), (alice, 5)):
        reading = {"read_at": f"2026-11-0{day}T07:30:00.123456+02:00", "meter_kwh": str(100 + day)}
        assert client.post("/api/readings", json=reading, headers=who.headers).status_code == 201
    voucher = {"purchased_on": "2026-11-02", "amount": "500.00", "kwh": "172.5", "vendor": "Shop"}
    assert client.post("/api/vouchers", json=voucher, headers=bob.headers).status_code == 201
    for body in ("gas", "water"):
        r = client.post("/api/notes", json={"body": body}, headers=alice.headers)
        assert r.status_code == 201
    return alice, bob


def _view(client: TestClient, member: Member) -> dict[str, Any]:
    """What the tenant sees through the API (ids, values, authors)."""
    return {
        path: client.get(path, headers=member.headers).json()
        for path in ("/api/readings", "/api/vouchers", "/api/notes")
    }


def _counts(placements: Placements, tenant_id: uuid.UUID, location: Location) -> dict[str, int]:
    """Rows of the tenant at ``location`` (served there or not), through a scoped session."""
    from tenantry.context import TenantContext, tenant_scope
    from tenantry.ids import TenantId
    from tenantry.roles import Role
    from tenantry.scoping import bind_tenant

    ctx = TenantContext(TenantId(tenant_id), None, Role.OWNER)
    with placements.control.read_sessions() as session, tenant_scope(ctx):
        bind_tenant(session, ctx)
        placements.bind(session, location, tenant_id)  # there, wherever the tenant is served
        return {
            cls.__tablename__: int(session.scalar(select(func.count()).select_from(cls)) or 0)
            for cls in (Reading, Voucher, AppNote)
        }


def test_move_to_dedicated_and_back_keeps_every_row(client: TestClient) -> None:
    alice, bob = _fill(client)
    tenant_id = uuid.UUID(alice.tenant_id)
    before = _view(client, alice)
    placements = _placements(client)

    there = move_tenant(placements, tenant_id, to="dedicated")
    assert not there.target.is_shared
    assert there.rows == {**there.rows, "readings": 5, "vouchers": 1, "app_notes": 2}
    assert current_location(placements, tenant_id) == (there.target, "active")
    assert _view(client, alice) == before
    assert _counts(placements, tenant_id, Location()) == {
        "readings": 0,
        "vouchers": 0,
        "app_notes": 0,
    }
    # Writable at its new home, by both members.
    reading = {"read_at": "2026-11-09T07:30:00+00:00", "meter_kwh": "130"}
    assert client.post("/api/readings", json=reading, headers=bob.headers).status_code == 201

    back = move_tenant(placements, tenant_id, to="shared")
    assert back.rows["readings"] == 6
    assert current_location(placements, tenant_id) == (Location(), "active")
    after = _view(client, alice)
    assert after["/api/readings"]["total"] == 6
    assert after["/api/vouchers"] == before["/api/vouchers"]
    assert after["/api/notes"] == before["/api/notes"]
    server = placements.config.server(there.target.server or "")
    if server.is_sqlite:
        assert not (server.directory / f"{there.target.database}.sqlite3").exists()


def test_moving_where_it_is_changes_nothing(client: TestClient) -> None:
    alice, _bob = _fill(client)
    report = move_tenant(_placements(client), uuid.UUID(alice.tenant_id), to="shared")
    assert report.already_there
    with pytest.raises(MoveFailed, match="no placement server 'nope'"):
        move_tenant(_placements(client), uuid.UUID(alice.tenant_id), to="dedicated", server="nope")


def _crash(client: TestClient, tenant_id: uuid.UUID, direction: str, die_at: str) -> None:
    """Run the move in another process, killed with SIGKILL at ``die_at`` (batches of 1)."""
    toml = client.app.state.settings.placements_file  # type: ignore[attr-defined]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.move_crash",
            _placements(client).control.url,
            str(toml),
            str(tenant_id),
            direction,
            die_at,
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == -9, run.stderr


STEPS = [
    "provisioned",
    "marked",
    "drained",
    "cleared",
    "copy:readings:2",
    "copy:vouchers:1",
    "verified",
    "switched",
]


@pytest.mark.parametrize("direction", ["dedicated", "shared"])
@pytest.mark.parametrize("die_at", STEPS)
def test_kill_9_at_any_step_leaves_one_complete_copy_served(
    client: TestClient, direction: str, die_at: str
) -> None:
    alice, _bob = _fill(client)
    tenant_id = uuid.UUID(alice.tenant_id)
    placements = _placements(client)
    if direction == "shared":  # start dedicated, move back to the shared tables
        move_tenant(placements, tenant_id, to="dedicated")
    before = _view(client, alice)
    origin, _ = current_location(placements, tenant_id)
    _crash(client, tenant_id, direction, die_at)
    served, state = current_location(placements, tenant_id)
    # Served from exactly one place, which holds every row: the origin until the switch.
    assert served == (origin if STEPS.index(die_at) < STEPS.index("switched") else served)
    assert served != origin or die_at != "switched"
    assert _view(client, alice) == before
    if state == "moving":  # read-only until the move is run again
        reading = {"read_at": "2026-11-09T07:30:00+00:00", "meter_kwh": "130"}
        refused = client.post("/api/readings", json=reading, headers=alice.headers)
        assert refused.status_code == 423
        assert refused.json()["error"]["code"] == "tenant_read_only"

    finished = move_tenant(placements, tenant_id, to=direction)
    final, state = current_location(placements, tenant_id)
    assert state == "active"
    assert (final.is_shared) == (direction == "shared")
    assert _view(client, alice) == before
    assert _counts(placements, tenant_id, final) == {"readings": 5, "vouchers": 1, "app_notes": 2}
    if origin.is_shared:
        assert _counts(placements, tenant_id, origin) == {
            "readings": 0,
            "vouchers": 0,
            "app_notes": 0,
        }
    assert finished.rows or finished.already_there
    reading = {"read_at": "2026-11-09T07:30:00+00:00", "meter_kwh": "130"}
    assert client.post("/api/readings", json=reading, headers=alice.headers).status_code == 201


def test_a_failed_provisioning_leaves_no_database_behind(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target database is made, then provisioning fails: the move fails, the tenant is
    still served where it was, and no half-made database is left for nothing to serve."""
    from tenantry.placement import provision

    alice, _bob = _fill(client)
    placements = _placements(client)
    tenant_id = uuid.UUID(alice.tenant_id)
    before = _view(client, alice)
    made: list[str] = []
    create = provision.create_database

    def record(server: Any, database: str) -> bool:
        made.append(database)
        return create(server, database)

    def refuse(*_args: Any) -> None:
        raise RuntimeError("the tenant row could not be copied")

    monkeypatch.setattr(provision, "create_database", record)
    monkeypatch.setattr(provision, "copy_tenant_row", refuse)
    with pytest.raises(RuntimeError, match="could not be copied"):
        move_tenant(placements, tenant_id, to="dedicated")
    assert made, "the move got as far as making the tenant's database"
    server = next(iter(placements.config.servers.values()))
    assert not _exists(server, made[0])
    location, state = current_location(placements, tenant_id)
    assert location.is_shared and state == "active"
    assert _view(client, alice) == before


def _exists(server: Any, database: str) -> bool:
    if server.is_sqlite:
        return bool((server.directory / f"{database}.sqlite3").exists())
    from sqlalchemy import create_engine, text

    engine = create_engine(server.admin_url or server.migration_url or server.url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}
            )
            return found.first() is not None
    finally:
        engine.dispose()


@pytest.mark.parametrize("direction", ["dedicated", "shared"])
def test_undoing_an_interrupted_move_removes_its_partial_copy(
    client: TestClient, direction: str
) -> None:
    """Moving back to where the tenant is said "already shared" and left the rows copied so
    far in the target, which nothing served and the doctor did not see."""
    alice, _bob = _fill(client)
    tenant_id = uuid.UUID(alice.tenant_id)
    placements = _placements(client)
    if direction == "shared":
        move_tenant(placements, tenant_id, to="dedicated")
    before = _view(client, alice)
    origin, _ = current_location(placements, tenant_id)
    _crash(client, tenant_id, direction, "copy:readings:2")
    with placements.control.read_sessions() as session:
        row = session.get(TenantPlacement, tenant_id)
        assert row is not None and row.state == "moving" and row.target
        abandoned = Location.from_dict(row.target)
    engine = placements.control.engine
    assert [s.location for s in stray_copies(placements.config, engine, tenant_id, origin)] == [
        abandoned
    ]

    undone = move_tenant(placements, tenant_id, to=origin.kind)
    assert stray_copies(placements.config, engine, tenant_id, origin) == []
    assert undone.already_there and [s.location for s in undone.cleared] == [abandoned]
    assert current_location(placements, tenant_id) == (origin, "active")
    assert _view(client, alice) == before
    reading = {"read_at": "2026-11-09T07:30:00+00:00", "meter_kwh": "130"}
    assert client.post("/api/readings", json=reading, headers=alice.headers).status_code == 201


def test_the_doctor_reports_a_copy_outside_any_placement(client: TestClient) -> None:
    """An interrupted move undone by an older tenantry: active, and a partial copy left."""
    alice, _bob = _fill(client)
    tenant_id = uuid.UUID(alice.tenant_id)
    placements = _placements(client)
    _crash(client, tenant_id, "dedicated", "copy:readings:2")
    with placements.control.session() as session:  # what `move --to shared` did
        session.execute(
            update(TenantPlacement)
            .where(TenantPlacement.tenant_id == tenant_id)
            .values(state="active", target=None)
        )
    [check] = check_placements(placements.config, placements.control.engine)
    assert len(check.problems) == 1, check.problems
    assert "a copy outside its placement" in check.problems[0]
    assert "`tenantry tenants move <tenant> --to shared`" in check.problems[0]

    move_tenant(placements, tenant_id, to="shared")
    [check] = check_placements(placements.config, placements.control.engine)
    assert check.ok, check.problems


@only_sqlite
def test_a_dedicated_tenant_whose_database_is_missing_is_not_moved(client: TestClient) -> None:
    """A move that cannot find the tenant's database (a relative path read from another
    directory) must not read an empty one in its place and switch the tenant to nothing."""
    alice, _bob = _fill(client)
    tenant_id = uuid.UUID(alice.tenant_id)
    placements = _placements(client)
    there = move_tenant(placements, tenant_id, to="dedicated").target
    server = placements.config.server(there.server or "")
    path = server.directory / f"{there.database}.sqlite3"
    aside = path.with_suffix(".aside")
    path.rename(aside)
    try:
        with pytest.raises(MoveFailed, match="does not exist: nothing was moved"):
            move_tenant(placements, tenant_id, to="shared")
        assert not path.exists()  # not created by looking
        assert current_location(placements, tenant_id) == (there, "active")
    finally:
        aside.rename(path)
    assert move_tenant(placements, tenant_id, to="shared").rows["readings"] == 5
