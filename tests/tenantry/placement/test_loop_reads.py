"""A dedicated tenant's route reads: on the event loop when its database is an SQLite file
with a connection free, else in a worker thread; from its own database either way."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from meterbook.services import readings
from tenantry.placement import Location, Placements
from tenantry.testing import Member, register
from tests.conftest import is_postgres
from tests.tenantry.placement.test_routing import _reading


def _placements(client: TestClient) -> Placements:
    placements: Placements = client.app.state.tenancy.placements  # type: ignore[attr-defined]
    return placements


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of the thread each page of readings was read in."""
    seen: list[str] = []
    original: Callable[..., Any] = readings.list_readings

    def recorded(*args: Any) -> Any:
        seen.append(threading.current_thread().name)
        return original(*args)

    monkeypatch.setattr(readings, "list_readings", recorded)
    return seen


def _in_worker(name: str) -> bool:
    return name.startswith("AnyIO worker thread")


def _meters(client: TestClient, member: Member) -> list[str]:
    r = client.get("/api/readings", headers=member.headers)
    assert r.status_code == 200, r.text
    return sorted(item["meter_kwh"] for item in r.json()["items"])


@pytest.fixture
def people(client: TestClient) -> tuple[Member, Member, Location]:
    """Alice in a database of her own with three readings, Bob shared with one."""
    alice = register(client, "alice@example.com")
    bob = register(client, "bob@example.com")
    where = _placements(client).place(uuid.UUID(alice.tenant_id), kind="dedicated")
    assert not where.is_shared
    for day in (1, 2, 3):
        r = client.post("/api/readings", json=_reading(day, str(100 + day)), headers=alice.headers)
        assert r.status_code == 201, r.text
    r = client.post("/api/readings", json=_reading(1, "7"), headers=bob.headers)
    assert r.status_code == 201, r.text
    return alice, bob, where


def test_each_tenant_reads_its_own_rows_on_the_loop_where_the_file_is_local(
    client: TestClient, people: tuple[Member, Member, Location], threads: list[str]
) -> None:
    alice, bob, _ = people
    for _ in range(2):  # alternating: one loop connection per database, never crossed
        assert _meters(client, alice) == ["101.000", "102.000", "103.000"]
        assert _meters(client, bob) == ["7.000"]
    assert len(threads) == 4
    if is_postgres(client.app.state.settings):  # type: ignore[attr-defined]
        assert all(map(_in_worker, threads))  # a server's round trips: never on the loop
    else:
        assert not any(map(_in_worker, threads)), threads


def test_a_busy_pool_sends_the_read_to_a_thread_not_the_loop_waiting(
    client: TestClient, people: tuple[Member, Member, Location], threads: list[str]
) -> None:
    alice, bob, where = people
    placements = _placements(client)
    engine = placements.engine_for(where, uuid.UUID(alice.tenant_id)).engine
    held = []
    try:
        while engine.pool.checkedout() < 4:  # type: ignore[attr-defined]
            held.append(engine.connect())  # threads hold every connection of her pool...
        assert _meters(client, bob) == ["7.000"]  # (the shared tables' pool is not hers)
        # ...until one is handed back: her read waits for it in a worker thread.
        threading.Timer(0.3, held.pop().close).start()
        assert _meters(client, alice) == ["101.000", "102.000", "103.000"]
    finally:
        for connection in held:
            connection.close()
    assert _in_worker(threads[1])
    assert _meters(client, alice) == ["101.000", "102.000", "103.000"]
    if not is_postgres(client.app.state.settings):  # type: ignore[attr-defined]
        assert not _in_worker(threads[0]) and not _in_worker(threads[2])
