"""The demo households (``tenantry serve --demo``) keep the app's own rules."""

from __future__ import annotations

from datetime import UTC, datetime, time

from fastapi import FastAPI
from fastapi.testclient import TestClient

from meterbook.demo import PASSWORD, seed
from meterbook.domain.validation import MeterPoint, check_order, check_reading_time


def test_the_demo_history_ends_in_the_past_and_never_runs_backwards(
    app: FastAPI, client: TestClient
) -> None:
    tenancy = app.state.tenancy
    seed(tenancy.db, tenancy)
    login = client.post(
        "/api/auth/login", json={"email": "thandi@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    page = client.get("/api/readings?limit=500&sort=date", headers=headers).json()
    assert page["total"] > 250  # near-daily for a year
    # Before dawn UTC: a reading timed this morning would be in the future.
    before_dawn = datetime.combine(datetime.now(UTC).date(), time(0, 1), tzinfo=UTC)
    previous: MeterPoint | None = None
    for item in page["items"]:
        read_at = datetime.fromisoformat(item["read_at"])
        check_reading_time(read_at, before_dawn)
        point = MeterPoint(read_at, round(float(item["meter_kwh"]) * 1000), False)
        check_order(previous, point, None)
        previous = point
