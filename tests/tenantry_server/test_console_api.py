"""The operator console's JSON API: figures, search, keyset paging, actions, all audited."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import Member, invite_and_join


def test_the_list_shows_members_rows_and_pages_by_keyset(
    client: TestClient, alice: Member, operator: Member
) -> None:
    invite_and_join(client, alice, "carol@example.com")
    client.post(
        "/api/readings",
        json={"read_at": "2026-01-01T06:00:00Z", "meter_kwh": "10"},
        headers=alice.headers,
    )
    for n in range(5):
        made = client.post("/api/tenants", json={"name": f"Zeta {n}"}, headers=operator.headers)
        assert made.status_code == 201
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, "sort": "name", "order": "asc"} | (
            {"cursor": cursor} if cursor else {}
        )
        page = client.get("/api/admin/tenants", params=params, headers=operator.headers).json()
        assert page["total"] == 7  # alice, ops and ops's five
        seen += [t["name"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 7
    found = client.get("/api/admin/tenants", params={"q": "alice"}, headers=operator.headers)
    (row,) = found.json()["items"]
    assert row["members"] == 2 and row["rows"]["readings"] == 1 and row["total_rows"] >= 1
    assert row["bytes"] is None or row["bytes"] > 0
    middle = row["slug"][2:6]  # part of the name, not its beginning
    by_part = client.get("/api/admin/tenants", params={"q": middle}, headers=operator.headers)
    assert alice.tenant_id in [t["id"] for t in by_part.json()["items"]]
    by_email = client.get(
        "/api/admin/tenants", params={"q": "carol@example.com"}, headers=operator.headers
    )
    assert [t["id"] for t in by_email.json()["items"]] == [alice.tenant_id]
    bad = client.get("/api/admin/tenants", params={"cursor": "tampered"}, headers=operator.headers)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    # A link of one order is refused in another, not read as an empty page.
    by_created = client.get("/api/admin/tenants", params={"limit": 2}, headers=operator.headers)
    other = {"limit": 2, "sort": "name", "cursor": by_created.json()["next_cursor"]}
    refused = client.get("/api/admin/tenants", params=other, headers=operator.headers)
    assert refused.status_code == 422, refused.text
    assert "sorted by created desc" in refused.json()["error"]["message"]


def test_actions_are_audited_with_the_admin_as_actor(
    client: TestClient, alice: Member, operator: Member
) -> None:
    t = alice.tenant_id
    assert (
        client.post(f"/api/admin/tenants/{t}/suspend", headers=operator.headers).status_code == 204
    )
    assert client.get("/api/tenant", headers=alice.headers).status_code == 403  # refused now
    client.post(f"/api/admin/tenants/{t}/reactivate", headers=operator.headers)
    assert client.get("/api/tenant", headers=alice.headers).status_code == 200
    changed = client.put(
        f"/api/admin/tenants/{t}/plan", json={"plan": "pro"}, headers=operator.headers
    )
    assert changed.status_code == 200, changed.text
    detail = client.get(f"/api/admin/tenants/{t}", headers=operator.headers).json()
    assert detail["tenant"]["plan"] == "pro"
    plan_events = [e for e in detail["audit"] if e["action"] == "platform.plan_changed"]
    assert plan_events and plan_events[0]["details"]["by_platform_admin"] is True
    assert plan_events[0]["actor_id"] == operator.user_id
    mine = [e for e in detail["audit"] if e["action"].startswith("platform.")]
    assert {e["action"] for e in mine} >= {
        "platform.tenant_suspended",
        "platform.tenant_reactivated",
    }
    assert all(e["actor_id"] == operator.user_id for e in mine)
    # The tenant's own admin sees that a platform admin looked and acted.
    own = client.get("/api/tenant/audit", headers=alice.headers).json()
    assert any(e["action"] == "platform.tenant_viewed" for e in own)


def test_deletion_needs_the_typed_slug_and_the_purge_leaves_one_pseudonymous_record(
    app: FastAPI, client: TestClient, alice: Member, operator: Member
) -> None:
    t = alice.tenant_id
    slug = client.get("/api/tenant", headers=alice.headers).json()["slug"]
    wrong = client.delete(
        f"/api/admin/tenants/{t}", params={"confirm": "nope"}, headers=operator.headers
    )
    assert wrong.status_code == 422
    done = client.delete(
        f"/api/admin/tenants/{t}", params={"confirm": slug}, headers=operator.headers
    )
    assert done.status_code == 204
    # Soft: the members are out at once, the operator still sees it, marked deleted.
    assert client.get("/api/tenant", headers=alice.headers).status_code in (403, 404, 410)
    seen = client.get(f"/api/admin/tenants/{t}", headers=operator.headers)
    assert seen.status_code == 200 and seen.json()["tenant"]["status"] == "deleted"
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from tenantry.models import AuditEvent
    from tenantry.retention import purge_expired

    with app.state.tenancy.db.session() as session:
        purge_expired(session, now=datetime.now(UTC) + timedelta(days=365))
    with app.state.tenancy.db.session() as session:
        left = session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == uuid.UUID(t))).all()
    assert [e.action for e in left] == ["tenant.purged"]
    assert "Alice household" not in repr([(e.details, e.target) for e in left])
    assert client.get(f"/api/admin/tenants/{t}", headers=operator.headers).status_code == 404


def test_health_reports_pool_migrations_and_slow_statements(
    client: TestClient, operator: Member
) -> None:
    health = client.get("/api/admin/health", headers=operator.headers).json()
    assert health["reachable"] and health["at_head"]
    assert health["migrations_current"] == health["migrations_expected"]
    assert health["slowest"] and all(s["calls"] >= 1 for s in health["slowest"])
    doctor = client.post("/api/admin/doctor", headers=operator.headers)
    assert doctor.status_code == 200 and "ok" in doctor.json()


def test_the_slowest_statements_include_the_reads_run_on_the_event_loop(
    app: FastAPI, client: TestClient, alice: Member
) -> None:
    """A household's page is read on the loop (inline SQLite, or the async driver), raw
    from its second run: the console's statement log sees each of them."""
    log = app.state.operations.statements

    def page_reads() -> int:
        return sum(s.calls for s in log.slowest(log.capacity) if "FROM readings" in s.sql)

    before = page_reads()
    for _ in range(3):
        assert client.get("/api/readings?limit=50", headers=alice.headers).status_code == 200
    assert page_reads() - before >= 3


def test_requests_and_last_activity_reach_the_console(
    app: FastAPI, client: TestClient, alice: Member, operator: Member
) -> None:
    app.state.activity.interval = 0  # write the activity after every request
    for _ in range(3):
        assert client.get("/api/tenant", headers=alice.headers).status_code == 200
    app.state.tenancy.meter.flush()  # the plan meter's counts, written now
    row = client.get(f"/api/admin/tenants/{alice.tenant_id}", headers=operator.headers).json()
    assert row["tenant"]["requests_this_period"] >= 3
    assert row["tenant"]["last_active_at"] is not None
