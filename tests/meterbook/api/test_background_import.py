"""Large CSV imports run as jobs in their household; the status is the household's own."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import update
from starlette.testclient import TestClient

from meterbook.services.import_jobs import BACKGROUND_LINES, JOB
from tenantry.jobs import runner
from tenantry.models import Tenant
from tenantry.placement.backup import tenant_location
from tenantry_server.app import create_app, default_plugins
from tenantry_server.settings import Settings
from tests.conftest import Member, only_sqlite, register
from tests.support.redis import RedisServer


@pytest.fixture(autouse=True)
def _household_plan(app: FastAPI, alice: dict[str, str], bob: dict[str, str]) -> None:
    """CSV import is a Household-plan feature."""
    with app.state.tenancy.db.session() as session:
        session.execute(update(Tenant).values(plan="household"))


def _csv(rows: int) -> str:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    lines = [f"{(start + timedelta(hours=i)).isoformat()},{i}" for i in range(rows)]
    return "read_at,meter_kwh\n" + "\n".join(lines) + "\n"


def _vouchers_csv(rows: int) -> str:
    lines = [f"2024-05-01,500,ZAR,170,,Spar,voucher {i}" for i in range(rows)]
    return "purchased_on,amount,currency,kwh,token_number,vendor,notes\n" + "\n".join(lines) + "\n"


def _wait(client: TestClient, who: dict[str, str], import_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        status = client.get(f"/api/imports/{import_id}", headers=who).json()
        if status.get("state") in ("done", "failed") or time.monotonic() > deadline:
            return status  # type: ignore[no-any-return]
        time.sleep(0.05)


def test_a_large_file_is_imported_by_a_job(
    client: TestClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    text = _csv(BACKGROUND_LINES + 10)
    answer = client.post(
        "/api/readings/import", content=text, headers={**alice, "content-type": "text/csv"}
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["state"] == "queued"  # the field GET /api/imports/{id} answers
    import_id = answer.json()["import_id"]
    status = _wait(client, alice, import_id)
    assert status == {"state": "done", "kind": "readings", "rows": BACKGROUND_LINES + 10}
    assert client.get("/api/readings", headers=alice).json()["total"] == BACKGROUND_LINES + 10
    # Another household knows nothing of it: not the status, not the rows.
    assert client.get(f"/api/imports/{import_id}", headers=bob).status_code == 404
    assert client.get("/api/readings", headers=bob).json()["total"] == 0


@pytest.mark.parametrize(
    ("kind", "text"), [("readings", _csv(30)), ("vouchers", _vouchers_csv(30))]
)
def test_an_import_delivered_again_is_not_applied_again(
    app: FastAPI, client: TestClient, kind: str, text: str
) -> None:
    """Its job delivered a second time (the ack lost in a Redis outage, its worker killed
    after the commit): the rows were in twice (vouchers), or the status said "failed,
    nothing was imported" when all was (readings, refused as duplicates)."""
    carol: Member = register(client, "carol@example.com", tenant_name="Carol")
    with app.state.tenancy.db.session() as session:
        session.execute(update(Tenant).values(plan="household"))
    answer = client.post(
        f"/api/{kind}/import?background=true",
        content=text,
        headers={**carol.headers, "content-type": "text/csv"},
    )
    assert answer.status_code == 202, answer.text
    import_id = answer.json()["import_id"]
    assert _wait(client, carol.headers, import_id) == {"state": "done", "kind": kind, "rows": 30}
    # What a worker claiming the unacknowledged message runs: the same job, the same kwargs.
    app.state.tenancy.jobs.run(
        {
            "id": uuid.uuid4().hex,
            "name": JOB,
            "tenant_id": carol.tenant_id,
            "actor_id": carol.user_id,
            "kwargs": {"kind": kind, "text": text, "import_id": import_id},
        }
    )
    assert client.get(f"/api/{kind}", headers=carol.headers).json()["total"] == 30
    status = client.get(f"/api/imports/{import_id}", headers=carol.headers).json()
    assert status == {"state": "done", "kind": kind, "rows": 30}


def test_an_import_queued_before_a_downgrade_runs_on_the_plan_it_meets(
    app: FastAPI, client: TestClient
) -> None:
    """An outside tester's Free household got a CSV import (a Household feature): its job
    was queued before the downgrade and ran after it."""
    dave: Member = register(client, "dave@example.com", tenant_name="Dave")
    with app.state.tenancy.db.session() as session:
        session.execute(update(Tenant).values(plan="free"))  # after the upload, before the run
    import_id = uuid.uuid4().hex
    app.state.tenancy.jobs.run(
        {
            "id": uuid.uuid4().hex,
            "name": JOB,
            "tenant_id": dave.tenant_id,
            "actor_id": dave.user_id,
            "kwargs": {"kind": "readings", "text": _csv(5), "import_id": import_id},
        }
    )
    status = client.get(f"/api/imports/{import_id}", headers=dave.headers).json()
    assert status["state"] == "failed" and status["code"] == "feature_not_in_plan", status
    assert client.get("/api/readings", headers=dave.headers).json()["total"] == 0


def test_a_refused_background_import_writes_nothing_and_says_why(
    client: TestClient, alice: dict[str, str]
) -> None:
    bad = "read_at,meter_kwh\n2024-01-01T07:00,100\n2024-01-02T07:00,90\n"
    answer = client.post(
        "/api/readings/import?background=true",
        content=bad,
        headers={**alice, "content-type": "text/csv"},
    )
    assert answer.status_code == 202
    status = _wait(client, alice, answer.json()["import_id"])
    assert status["state"] == "failed"
    assert status["details"]["rows"][0]["row"] == 3
    assert client.get("/api/readings", headers=alice).json()["total"] == 0


@only_sqlite  # the table is dropped as the file's owner; the retries are tested on both
def test_an_import_the_database_cannot_run_ends_failed_not_queued_for_ever(
    app: FastAPI, client: TestClient, alice: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "RETRY_WAITS", (0.01,))
    engine = app.state.tenancy.db.engine
    placements = app.state.tenancy.placements
    if placements is not None:  # the household's rows may be in a database of its own
        tenant_id = uuid.UUID(client.get("/api/tenant", headers=alice).json()["id"])
        location = tenant_location(placements, tenant_id)
        if not location.is_shared:
            engine = placements.engine_for(location, tenant_id).engine
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE readings")  # every run fails on the database
    answer = client.post(
        "/api/readings/import?background=true",
        content=_csv(3),
        headers={**alice, "content-type": "text/csv"},
    )
    assert answer.status_code == 202, answer.text
    status = _wait(client, alice, answer.json()["import_id"])
    assert status["state"] == "failed" and status["code"] == "import_not_run", status
    assert "nothing was imported" in status["message"]


@pytest.mark.redis
@only_sqlite
def test_an_imports_status_while_the_cache_is_down_is_unknown_not_absent(
    settings: Settings, redis: RedisServer
) -> None:
    """It lives in the cache: with Redis down an accepted import answered 404."""
    app = create_app(settings.model_copy(update={"redis_url": redis.url}), default_plugins())
    with TestClient(app) as client:
        carol = register(client, "carol@example.com", tenant_name="Carol")
        with app.state.tenancy.db.session() as session:
            session.execute(update(Tenant).values(plan="household"))
        unknown = client.get(f"/api/imports/{'0' * 32}", headers=carol.headers)
        assert unknown.status_code == 404
        redis.stop()
        try:
            answer = client.post(
                "/api/readings/import?background=true",
                content=_csv(3),
                headers={**carol.headers, "content-type": "text/csv"},
            )
            assert answer.status_code == 202, answer.text  # kept in the spool
            status = client.get(f"/api/imports/{answer.json()['import_id']}", headers=carol.headers)
            assert status.status_code == 503, status.text
            assert status.json()["error"]["code"] == "service_unavailable"
        finally:
            redis.start()
    app.state.tenancy.db.dispose()
