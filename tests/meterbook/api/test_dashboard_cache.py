"""The dashboard is cached per household and changes the moment a reading or voucher is added."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from starlette.testclient import TestClient

from tenantry_server.app import create_app, default_plugins
from tenantry_server.settings import Settings
from tests.conftest import FAST_PASSWORDS

NOW = datetime.now(UTC).replace(microsecond=0)


def _read(client: TestClient, who: dict[str, str], days: float, kwh: str) -> None:
    answer = client.post(
        "/api/readings",
        json={"read_at": (NOW - timedelta(days=days)).isoformat(), "meter_kwh": kwh},
        headers=who,
    )
    assert answer.status_code == 201, answer.text


def test_a_new_reading_shows_at_once(client: TestClient, alice: dict[str, str]) -> None:
    _read(client, alice, 3, "100")
    _read(client, alice, 2, "110")
    assert client.get("/api/dashboard", headers=alice).json()["consumed_kwh"] == "10.000"
    _read(client, alice, 1, "130")
    assert client.get("/api/dashboard", headers=alice).json()["consumed_kwh"] == "30.000"
    client.post(
        "/api/vouchers",
        json={"purchased_on": NOW.date().isoformat(), "amount": "60", "kwh": "20"},
        headers=alice,
    )
    assert client.get("/api/dashboard", headers=alice).json()["total_bought_kwh"] == "20.000"


def test_the_cache_answers_repeats_without_the_database(
    app: FastAPI, client: TestClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    _read(client, alice, 2, "100")
    _read(client, alice, 1, "150")
    first = client.get("/api/dashboard", headers=alice).json()
    calls: list[str] = []
    cache = app.state.tenancy.cache
    real = cache.backend.set
    cache.backend.set = lambda *a: calls.append(a[0]) or real(*a)  # observe, do not replace
    assert client.get("/api/dashboard", headers=alice).json() == first
    assert calls == []  # served from the cache: nothing was stored again
    # Another household with the same query gets its own figures, not alice's.
    assert first["consumed_kwh"] == "50.000"
    assert client.get("/api/dashboard", headers=bob).json()["consumed_kwh"] != "50.000"
    assert len(calls) == 1


def test_every_server_process_sees_a_new_reading_at_once(
    app: FastAPI, client: TestClient, alice: dict[str, str]
) -> None:
    """`tenantry serve --workers N` without Redis: the workers share the cache on disk.

    Each had its own memory cache before, and a worker that had cached the dashboard kept
    showing it for five minutes after another worker took a new reading.
    """
    # The first app's settings: with placement under test, where alice's data lives.
    settings: Settings = app.state.settings
    other_app = create_app(settings, default_plugins(), passwords=FAST_PASSWORDS)
    try:
        with TestClient(other_app) as other:
            _read(client, alice, 3, "100")
            _read(client, alice, 2, "110")
            assert other.get("/api/dashboard", headers=alice).json()["consumed_kwh"] == "10.000"
            _read(client, alice, 1, "130")  # through the first process
            assert other.get("/api/dashboard", headers=alice).json()["consumed_kwh"] == "30.000"
            assert client.get("/api/dashboard", headers=alice).json()["consumed_kwh"] == "30.000"
            other.post(
                "/api/vouchers",
                json={"purchased_on": NOW.date().isoformat(), "amount": "60", "kwh": "20"},
                headers=alice,
            )
            dashboard = client.get("/api/dashboard", headers=alice).json()
            assert dashboard["total_bought_kwh"] == "20.000"
    finally:
        if other_app.state.tenancy.placements is not None:
            other_app.state.tenancy.placements.dispose()  # its pools on alice's own database
        other_app.state.tenancy.db.dispose()
