"""One JSON line per request, no tenant data in error logs, and the health routes."""

from __future__ import annotations

import logging
import os

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from tenantry.db import Database
from tenantry_server.logs import REQUEST_LOGGER, JsonFormatter
from tenantry_server.settings import Settings
from tests.conftest import Member
from tests.support.databases import set_core_revision

SECRET = "TENANT-SECRET-4242"


def lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    formatter = JsonFormatter()
    return [orjson.loads(formatter.format(r)) for r in caplog.records]


def test_one_json_line_per_request_with_its_request_id(
    client: TestClient, alice: Member, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    response = client.get("/api/tenant", headers={**alice.headers, "X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    bad = client.get("/healthz", headers={"X-Request-ID": "x" * 500 + "\n"}).headers["x-request-id"]
    assert len(bad) == 32  # an unusable id is replaced, not echoed
    logged = [line for line in lines(caplog) if line["logger"] == REQUEST_LOGGER]
    first = next(line for line in logged if line["request_id"] == "abc-123")
    assert first["route"] == "/api/tenant" and first["status"] == 200
    assert first["tenant_id"] == alice.tenant_id and first["user_id"] == alice.user_id
    assert isinstance(first["duration_ms"], float) and "time" in first
    assert first["pid"] == os.getpid()  # which of --workers N answered
    assert len([line for line in logged if line["request_id"] == "abc-123"]) == 1


def test_a_failing_statement_never_shows_its_parameters(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(settings.database_url)
    try:
        with pytest.raises(SQLAlchemyError) as failure, db.engine.connect() as conn:
            try:
                conn.execute(text("SELECT * FROM no_such_table WHERE x = :v"), {"v": SECRET})
            except SQLAlchemyError:
                logging.getLogger("tenantry.test").exception("failed")
                raise
    finally:
        db.dispose()
    assert SECRET not in str(failure.value)
    output = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert SECRET not in output
    assert '"error":"ProgrammingError"' in output or '"error":"OperationalError"' in output


def test_an_unhandled_error_logs_its_class_and_request_id_only(
    client: TestClient, alice: Member, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # A value the database refuses: the refused value is tenant data.
    client.post(
        "/api/readings",
        json={"read_at": "2026-01-01T06:00:00Z", "meter_kwh": "1", "note": SECRET + "\x00"},
        headers={**alice.headers, "X-Request-ID": "req-9"},
    )
    output = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert SECRET not in output
    assert "req-9" in output


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    for probe in ("/healthz", "/readyz"):  # load balancers that probe with HEAD: was 405
        assert client.head(probe).status_code == 200, probe


def test_readiness_fails_while_a_migration_is_pending(
    client: TestClient, settings: Settings
) -> None:
    set_core_revision(settings.migration_database_url or settings.database_url, "0001_core")
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "migrations pending" in ready.json()["reason"]


def test_a_database_migrated_by_a_newer_release_keeps_this_one_ready_and_says_so(
    client: TestClient, settings: Settings
) -> None:
    """An upgrade migrates first: the old processes serve on until they are replaced (a
    tester saw them all dropped as 'migrations pending', which was not true)."""
    set_core_revision(
        settings.migration_database_url or settings.database_url, "0099_from_the_future"
    )
    ready = client.get("/readyz")
    assert ready.status_code == 200
    reason = ready.json()["reason"]
    assert "0099_from_the_future, newer than this code" in reason
    assert "migrations pending" not in reason
