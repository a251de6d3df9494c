"""Routing: a tenant's requests reach its own database and no other, on both backends."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Uuid, bindparam, create_engine, func, select, text, update
from sqlalchemy.engine import make_url

from tenantry.context import TenantContext, tenant_scope
from tenantry.ids import TenantId
from tenantry.models import Tenant, TenantPlacement
from tenantry.placement import Location, PlacementMismatch, Placements
from tenantry.roles import Role
from tenantry.scoping import bind_tenant
from tenantry.testing import Member, register
from tenantry_server.settings import Settings
from tests.conftest import PASSWORD, is_postgres
from tests.support.placement import pg_server, placed_app, sqlite_server, write_placements
from tests.support.ports import free_port
from tests.support.postgres import local_postgres
from tests.tenantry.placement.conftest import drop_dedicated


def _reading(day: int, kwh: str = "100") -> dict[str, str]:
    return {"read_at": f"2026-11-{day:02d}T07:30:00+00:00", "meter_kwh": kwh}


def _placements(client: TestClient) -> Placements:
    placements: Placements = client.app.state.tenancy.placements  # type: ignore[attr-defined]
    return placements


def _dedicate(client: TestClient, member: Member) -> Location:
    return _placements(client).place(uuid.UUID(member.tenant_id), kind="dedicated")


def _rows_in(url: str, tenant_id: str | None = None) -> int:
    return _count(url, "readings", tenant_id)


def _count(url: str, table: str, tenant_id: str | None = None) -> int:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(username="postgres")  # the test cluster's superuser sees every row
    engine = create_engine(parsed)
    try:
        with engine.connect() as conn:
            sql = f"SELECT count(*) FROM {table}"
            if tenant_id is not None:
                return int(
                    conn.execute(
                        text(sql + " WHERE tenant_id = :t").bindparams(
                            bindparam("t", type_=Uuid())
                        ),
                        {"t": uuid.UUID(tenant_id)},
                    ).scalar_one()
                )
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def _owner_url(client: TestClient, location: Location) -> str:
    placements = _placements(client)
    if location.is_shared:
        settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
        return settings.migration_database_url or settings.database_url
    return placements.url_of(location, role="migration")


def test_a_dedicated_tenant_writes_and_reads_its_own_database(client: TestClient) -> None:
    alice = register(client, "alice@example.com")
    bob = register(client, "bob@example.com")
    where = _dedicate(client, alice)
    assert not where.is_shared
    for day in (1, 2, 3):
        r = client.post("/api/readings", json=_reading(day, str(100 + day)), headers=alice.headers)
        assert r.status_code == 201, r.text
    assert client.post("/api/readings", json=_reading(1), headers=bob.headers).status_code == 201
    assert client.get("/api/readings", headers=alice.headers).json()["total"] == 3
    assert client.get("/api/readings", headers=bob.headers).json()["total"] == 1
    # Alice's rows are in her database only; Bob's in the shared tables only.
    assert _rows_in(_owner_url(client, where)) == 3
    shared = _owner_url(client, Location())
    assert _rows_in(shared, alice.tenant_id) == 0
    assert _rows_in(shared, bob.tenant_id) == 1
    # Control data stays in the control database: the row audit of her readings too.
    assert _count(shared, "tenantry_audit_events", alice.tenant_id) > 0
    assert _count(_owner_url(client, where), "tenantry_audit_events", alice.tenant_id) == 0


def test_two_dedicated_tenants_never_reach_each_other(client: TestClient) -> None:
    alice = register(client, "alice@example.com")
    bob = register(client, "bob@example.com")
    a, b = _dedicate(client, alice), _dedicate(client, bob)
    assert a != b
    for day in range(1, 6):  # interleaved: both engines cached, every request routed anew
        assert (
            client.post("/api/readings", json=_reading(day), headers=alice.headers).status_code
            == 201
        )
        if day % 2:
            assert (
                client.post("/api/readings", json=_reading(day), headers=bob.headers).status_code
                == 201
            )
        assert client.get("/api/readings", headers=bob.headers).json()["total"] == (day + 1) // 2
    assert len(_placements(client).engines) >= 2
    assert _rows_in(_owner_url(client, a)) == 5
    assert _rows_in(_owner_url(client, a), bob.tenant_id) == 0
    assert _rows_in(_owner_url(client, b)) == 3
    assert _rows_in(_owner_url(client, b), alice.tenant_id) == 0
    # Bob naming Alice's tenant is refused like any non-member.
    attack = client.get("/api/readings", headers={**bob.headers, "X-Tenant-ID": alice.tenant_id})
    assert attack.status_code == 404


def test_a_session_never_serves_two_tenant_databases(client: TestClient) -> None:
    alice = register(client, "alice@example.com")
    bob = register(client, "bob@example.com")
    a, b = _dedicate(client, alice), _dedicate(client, bob)
    placements = _placements(client)
    alice_id, bob_id = uuid.UUID(alice.tenant_id), uuid.UUID(bob.tenant_id)
    with placements.control.sessions() as session:
        placements.bind(session, a, alice_id)
        with pytest.raises(PlacementMismatch):
            placements.bind(session, b, bob_id)
    # Even when a session is bound to Alice's engine by mistake, Bob's scope cannot use it.
    from meterbook.models import Reading

    with placements.control.sessions() as session:
        ctx = TenantContext(TenantId(bob_id), None, Role.OWNER)
        bind_tenant(session, ctx)
        session.bind_mapper(Reading, placements.engine_for(a, alice_id).engine)
        with tenant_scope(ctx), pytest.raises(PlacementMismatch):
            session.scalar(select(func.count()).select_from(Reading))


def test_a_moving_tenant_is_read_only(client: TestClient) -> None:
    alice = register(client, "alice@example.com")
    _dedicate(client, alice)
    assert client.post("/api/readings", json=_reading(1), headers=alice.headers).status_code == 201
    placements = _placements(client)
    with placements.control.session() as session:
        session.execute(
            update(TenantPlacement)
            .where(TenantPlacement.tenant_id == uuid.UUID(alice.tenant_id))
            .values(state="moving")
        )
    refused = client.post("/api/readings", json=_reading(2), headers=alice.headers)
    assert refused.status_code == 423
    assert refused.json()["error"]["code"] == "tenant_read_only"
    assert client.get("/api/readings", headers=alice.headers).json()["total"] == 1


def test_the_policy_places_new_tenants(
    settings: Settings, servers: dict[str, Any], tmp_path: Path
) -> None:
    toml = write_placements(tmp_path / "p.toml", servers, plans={"free": "dedicated"})
    with placed_app(settings, toml) as application, TestClient(application) as client:
        alice = register(client, "alice@example.com")
        placements = _placements(client)
        with placements.control.read_sessions() as session:
            where, state = placements.lookup(session, uuid.UUID(alice.tenant_id))
        assert not where.is_shared and state == "active"
        assert where.server == next(iter(servers))
        assert (
            client.post("/api/readings", json=_reading(1), headers=alice.headers).status_code == 201
        )
        assert _rows_in(placements.url_of(where, role="migration")) == 1
    drop_dedicated(application, servers)


def test_async_routes_reach_the_tenants_database_too(client: TestClient) -> None:
    alice = register(client, "alice@example.com")
    bob = register(client, "bob@example.com")
    where = _dedicate(client, alice)
    for who, body in ((alice, "a1"), (alice, "a2"), (bob, "b1")):
        r = client.post("/api/anotes", json={"body": body}, headers=who.headers)
        assert r.status_code == 201, r.text
    assert sorted(n["body"] for n in client.get("/api/anotes", headers=alice.headers).json()) == [
        "a1",
        "a2",
    ]
    assert [n["body"] for n in client.get("/api/notes", headers=bob.headers).json()] == ["b1"]
    assert _count(_owner_url(client, where), "app_notes") == 2
    assert _count(_owner_url(client, Location()), "app_notes", alice.tenant_id) == 0


def test_a_script_session_is_routed_at_its_first_tenant_query(client: TestClient) -> None:
    from tests.notes_app import AppNote

    alice = register(client, "alice@example.com")
    where = _dedicate(client, alice)
    placements = _placements(client)
    ctx = TenantContext(TenantId(uuid.UUID(alice.tenant_id)), None, Role.OWNER)
    with tenant_scope(ctx), placements.control.session() as session:
        session.add_all(AppNote(body=f"n{i}") for i in range(3))
    assert len(client.get("/api/notes", headers=alice.headers).json()) == 3
    assert _count(_owner_url(client, where), "app_notes") == 3


def test_a_new_tenant_is_placed_when_its_transaction_commits_not_at_a_savepoint(
    settings: Settings, servers: dict[str, Any], tmp_path: Path
) -> None:
    """The demo seeds a household, then registers its viewer (a savepoint), in one
    transaction: placing at the savepoint waited 10 s for the write lock the outer
    transaction held, then left the tenant shared."""
    from tenantry import accounts

    toml = write_placements(tmp_path / "p.toml", servers, default="dedicated")
    with placed_app(settings, toml) as application:
        tenancy = application.state.tenancy
        placements: Placements = tenancy.placements
        with placements.control.session() as session:
            made = accounts.register(
                session, tenancy.passwords, email="owner@example.com", password=PASSWORD,
                tenant_name="Savepoints", verified=True,
            )  # fmt: skip
            assert made.membership is not None
            tenant_id = made.membership.tenant_id
            with session.begin_nested():  # released before the outer commit
                session.execute(text("SELECT 1"))
            with placements.control.read_sessions() as other:
                assert placements.lookup(other, tenant_id)[0].is_shared  # not yet
        with placements.control.read_sessions() as session:
            where, state = placements.lookup(session, tenant_id)
        assert not where.is_shared and state == "active"
    drop_dedicated(application, servers)


def test_a_sign_up_gets_its_database_when_its_address_is_confirmed(
    settings: Settings, servers: dict[str, Any], tmp_path: Path
) -> None:
    """Each sign-up made a database at once: a script signing up addresses it does not
    own made one each (a file, or a PostgreSQL database) that nobody could ever use."""
    from tenantry.testing import signup_token

    toml = write_placements(tmp_path / "p.toml", servers, default="dedicated")
    with placed_app(settings, toml) as application, TestClient(application) as client:
        placements: Placements = application.state.tenancy.placements
        for n in range(3):
            signed_up = client.post(
                "/api/auth/register",
                json={"email": f"bot{n}@example.com", "password": "a long passphrase"},
            )
            assert signed_up.status_code == 202, signed_up.text
        with placements.control.read_sessions() as session:
            tenants = session.execute(select(Tenant.id, Tenant.name)).all()
            assert len(tenants) == 3
            assert all(placements.lookup(session, t)[0].is_shared for t, _ in tenants)
            assert session.scalars(select(TenantPlacement)).all() == []
        verified = client.post(
            "/api/auth/verify", json={"token": signup_token(client, "bot1@example.com")}
        )
        assert verified.status_code == 200, verified.text
        headers = {"Authorization": f"Bearer {verified.json()['access_token']}"}
        tenant_id = uuid.UUID(verified.json()["tenant_id"])
        with placements.control.read_sessions() as session:
            where, state = placements.lookup(session, tenant_id)
            assert not where.is_shared and state == "active"
            assert len(session.scalars(select(TenantPlacement)).all()) == 1  # the others wait
        assert client.post("/api/notes", json={"body": "mine"}, headers=headers).status_code == 201
        assert _count(_owner_url(client, where), "app_notes") == 1
        # A confirmed owner's next household is placed as it is made.
        second = client.post("/api/tenants", json={"name": "Holiday flat"}, headers=headers)
        assert second.status_code == 201, second.text
        with placements.control.read_sessions() as session:
            later = placements.lookup(session, uuid.UUID(second.json()["tenant_id"]))[0]
        assert not later.is_shared
    drop_dedicated(application, servers)


def test_every_new_set_of_async_sessions_gets_the_write_guards(client: TestClient) -> None:
    """Once each, however many are made and dropped. They were remembered by id(), which a
    new object may reuse once the old one is collected (not reproduced here: CPython
    gave no AsyncSessions a freed one's address in 60 tries)."""
    import gc

    from tenantry.async_db import AsyncSessions

    placements = _placements(client)
    for _ in range(5):
        aio = AsyncSessions(placements.control.url)
        placements.install_async(aio)
        placements.install_async(aio)  # once only
        writes = aio.sessions.kw["sync_session_class"]()
        assert hooks(writes.dispatch.before_flush).count(placements._guard_flush) == 1
        assert hooks(writes.dispatch.do_orm_execute).count(placements._guard_statement) == 1
        writes.close()
        aio.engine.sync_engine.dispose()
        del aio, writes
        gc.collect()


def hooks(listeners: Any) -> list[Any]:
    """The hooks behind a session's listeners (``tenantry.hooks`` registers stand-ins)."""
    return [getattr(listener, "hook", listener) for listener in listeners]


@pytest.fixture
def stoppable(
    settings: Settings, tmp_path: Path
) -> Iterator[tuple[dict[str, Any], Callable[[], None]]]:
    """A dedicated server of the backend and a way to take it down: a throwaway PostgreSQL
    cluster stopped, or the SQLite directory moved away (its files cannot be opened)."""
    if is_postgres(settings):
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(local_postgres(port=free_port()))
            yield {"pg": pg_server(server)}, stack.close
        return
    directory = tmp_path / "tenants"
    yield {"files": sqlite_server(directory)}, lambda: directory.rename(tmp_path / "gone")


def test_a_stopped_tenant_server_answers_503_for_its_tenant_alone(
    settings: Settings,
    stoppable: tuple[dict[str, Any], Callable[[], None]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """It answered 500 internal_error on every route of the tenant, logged as our fault."""
    servers, stop = stoppable
    toml = write_placements(tmp_path / "placements.toml", servers)
    with placed_app(settings, toml) as application, TestClient(application) as client:
        alice = register(client, "alice@example.com")
        bob = register(client, "bob@example.com")
        _dedicate(client, alice)
        assert (
            client.post("/api/readings", json=_reading(1), headers=alice.headers).status_code == 201
        )
        stop()
        _placements(client).dispose()  # SQLite: an open file outlives its directory's move
        caplog.set_level(logging.WARNING, logger="tenantry.web")
        for path in ("/api/readings", "/api/notes"):
            down = client.get(path, headers=alice.headers)
            assert down.status_code == 503, down.text
            assert down.json()["error"]["code"] == "database_unavailable"
            assert down.headers["retry-after"].isdigit()
        assert client.get("/api/readings", headers=bob.headers).status_code == 200
    logged = [r for r in caplog.records if r.name == "tenantry.web"]
    assert logged and all(r.levelno == logging.WARNING and not r.exc_info for r in logged)
    assert "OperationalError" in logged[0].getMessage()
