"""``/metrics``: behind its token, by route template, tenant labels bounded, several processes."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from tenantry.metrics import OTHER, TenantLabels
from tenantry.testing import register
from tenantry.web.observe import CLIENT_CLOSED_REQUEST, RequestRecord
from tenantry_server.app import create_app, default_plugins
from tenantry_server.metrics import RequestMetrics
from tenantry_server.settings import Settings
from tests.conftest import FAST_PASSWORDS, Member, make_settings, only_postgresql
from tests.notes_app import NotesPlugin
from tests.support.postgres import APP_ROLE, PostgresServer


def scrape(client: TestClient, settings: Settings) -> str:
    response = client.get(
        "/metrics", headers={"Authorization": f"Bearer {settings.metrics_bearer()}"}
    )
    assert response.status_code == 200
    return response.text


def test_metrics_need_the_token_and_count_by_route_template(
    client: TestClient, settings: Settings, alice: Member
) -> None:
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.get("/metrics", headers=alice.headers).status_code == 404
    for method in ("POST", "DELETE"):  # a 405 would tell the route is there
        assert client.request(method, "/metrics").status_code == 404
        wrong = {"Authorization": "Bearer wrong"}
        assert client.request(method, "/metrics", headers=wrong).status_code == 404
    made = client.post(
        "/api/readings",
        json={"read_at": "2026-01-01T06:00:00Z", "meter_kwh": "1"},
        headers=alice.headers,
    ).json()
    client.get(f"/api/readings/{made['id']}", headers=alice.headers)
    text = scrape(client, settings)
    assert 'route="/api/readings/{reading_id:int}"' in text
    assert str(made["id"]) not in text  # the template, never the path
    assert "tenantry_http_request_duration_seconds_bucket" in text
    assert "tenantry_db_statement_duration_seconds_count" in text
    assert 'tenantry_tenants{status="active"}' in text
    assert "tenantry_db_pool_in_use" in text
    assert "tenantry_rate_limit_refusals" in text and "tenantry_quota_refusals" in text


def test_tenant_labels_stay_bounded_after_ten_thousand_tenants() -> None:
    labels = TenantLabels(limit=50, allow=["vip"])
    seen = {labels.label(str(uuid.uuid4())) for _ in range(10_000)}
    assert len(seen) <= 51 and OTHER in seen
    assert labels.label("vip") == "vip"
    assert len(labels.admitted) == 50


def _count(route: str, status: str) -> float:
    labels = {"route": route, "method": "POST", "status": status}
    return REGISTRY.get_sample_value("tenantry_http_requests_total", labels) or 0.0


@pytest.mark.anyio
async def test_a_request_dropped_before_routing_is_counted_apart_from_unmatched_paths() -> None:
    """A 499 dropped in its token's queue has no route yet: not an unknown path."""
    sink = RequestMetrics(TenantLabels(limit=5))
    before = _count("unrouted", "499"), _count("unmatched", "404")
    await sink(RequestRecord("r1", "POST", "/api/readings", status=CLIENT_CLOSED_REQUEST))
    await sink(RequestRecord("r2", "POST", "/api/nowhere", status=404))
    assert (_count("unrouted", "499"), _count("unmatched", "404")) == (before[0] + 1, before[1] + 1)
    assert _count("unmatched", "499") == 0


def test_quota_refusals_are_counted(client: TestClient, settings: Settings, alice: Member) -> None:
    from tenantry.testing import invite_and_join, register

    invite_and_join(client, alice, "partner@example.com")  # the Free plan's second seat
    code = client.post("/api/tenant/invites", json={}, headers=alice.headers).json()["code"]
    carol = register(client, "carol@example.com")
    refused = client.post("/api/invites/join", json={"code": code}, headers=carol.headers)
    assert refused.status_code == 402
    assert 'tenantry_quota_refusals_total{resource="members"}' in scrape(client, settings)


def test_rate_limit_refusals_are_counted(client: TestClient, settings: Settings) -> None:
    for _ in range(12):
        client.post("/api/auth/login", json={"email": "x@example.com", "password": "x" * 12})
    text = scrape(client, settings)
    assert 'tenantry_rate_limit_refusals_total{bucket="login"}' in text
    # The per-account back-off refuses before the per-address limit: counted too.
    assert 'tenantry_rate_limit_refusals_total{bucket="login-backoff"}' in text


WORKER = """
import sys
from tenantry.metrics import REQUESTS
for _ in range(int(sys.argv[1])):
    REQUESTS.labels(route="/x", method="GET", status="200").inc()
"""
COLLECT = """
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
registry = CollectorRegistry()
multiprocess.MultiProcessCollector(registry)
print(generate_latest(registry).decode())
"""


def test_multiprocess_mode_sums_the_workers(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for n in (3, 4):
        subprocess.run([sys.executable, "-c", WORKER, str(n)], env=env, check=True)
    out = subprocess.run(
        [sys.executable, "-c", COLLECT], env=env, check=True, capture_output=True, text=True
    ).stdout
    assert 'tenantry_http_requests_total{method="GET",route="/x",status="200"} 7.0' in out


def test_a_scrape_succeeds_while_the_control_database_is_down(
    template_db: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """/metrics answered 500, so the scrape failed exactly during the outage; API calls
    answered 500 internal_error instead of 503. An outage is logged as warnings (the
    request sink and the usage flush said it as errors with tracebacks)."""
    control = tmp_path / "control"
    control.mkdir()
    shutil.copy(template_db, control / "db.sqlite3")
    settings = make_settings(f"sqlite:///{control / 'db.sqlite3'}", tmp_path / "var")
    app = create_app(settings, [*default_plugins(), NotesPlugin()], passwords=FAST_PASSWORDS)
    with TestClient(app) as client:
        alice = register(client, "alice@example.com")
        assert "tenantry_control_database_up 1.0" in scrape(client, settings)
        slug = client.get("/api/tenant", headers=alice.headers).json()["slug"]
        control.rename(tmp_path / "gone")  # SQLite: "unable to open database file"
        app.state.tenancy.db.dispose()  # an open file outlives its directory's move
        caplog.set_level(logging.WARNING)
        down = client.get("/api/notes", headers=alice.headers)
        assert down.status_code == 503, down.text
        assert down.json()["error"]["code"] == "database_unavailable"
        page = client.get(f"/t/{slug}/dashboard", headers=alice.headers)
        assert page.status_code == 503  # a page says what is down, not "something went wrong"
        assert "The database cannot be reached" in page.text
        text = scrape(client, settings)
        assert "tenantry_control_database_up 0.0" in text
        assert "tenantry_tenants{" not in text  # not a count of zero: no count
        assert 'route="/api/notes",status="503"' in text
        app.state.tenancy.meter.flush()
    app.state.tenancy.db.dispose()
    faults = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert faults == [], [r.getMessage() for r in faults]
    assert any("database unavailable" in r.getMessage() for r in caplog.records)


POOL = """
import sys
from tenantry.metrics import POOL_SIZE
POOL_SIZE.set(5)
print("set", flush=True)
sys.stdin.read()  # alive until the test closes its stdin
"""


def test_a_dead_workers_pool_is_no_longer_summed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed and replaced left its live gauges behind: every scrape after counted
    its pool with the live workers' (10 -> 15 in a stranger's test)."""
    from tenantry_server.metrics import _process_metrics

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    alive, dead = (
        subprocess.Popen(
            [sys.executable, "-c", POOL], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        for _ in range(2)
    )
    try:
        for worker in (alive, dead):
            assert worker.stdout is not None and worker.stdout.readline() == b"set\n"
        dead.kill()
        dead.wait()
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
        text = _process_metrics().decode()
        assert "tenantry_db_pool_size 5.0" in text, text
    finally:
        for worker in (alive, dead):
            if worker.stdin is not None:
                worker.stdin.close()
            worker.wait()


@only_postgresql
def test_a_scrape_on_a_connection_the_server_dropped_answers_200(
    settings: Settings, postgres: PostgresServer
) -> None:
    """An outside tester stopped PostgreSQL: each worker's first scrape answered 500
    (PendingRollbackError: the failed read's transaction was committed in teardown)."""
    app = create_app(settings, [*default_plugins(), NotesPlugin()], passwords=FAST_PASSWORDS)
    with TestClient(app) as client:
        assert "tenantry_control_database_up 1.0" in scrape(client, settings)  # a warm pool
        admin = postgres.admin_url.set(drivername="postgresql", database=None)
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as c:
            c.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE usename = %s AND pid <> pg_backend_pid()",
                (APP_ROLE,),
            )
        assert "tenantry_control_database_up 0.0" in scrape(client, settings)  # was a 500
        assert "tenantry_control_database_up 1.0" in scrape(client, settings)  # reconnected
