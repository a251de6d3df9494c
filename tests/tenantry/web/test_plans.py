"""The plan API and the attacks a new user would try: seats, quotas, forged fields, roles."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from tenantry.db import Database
from tenantry.models import AuditEvent, UsageCounter, User
from tenantry_server.settings import Settings
from tests.conftest import PASSWORD, Member, invite_and_join, register

CSV = "read_at,meter_kwh\n" + "".join(f"2026-0{m}-01T08:00:00Z,{m * 100}\n" for m in range(1, 6))


def _plan(client: TestClient, who: Member) -> dict[str, Any]:
    response = client.get("/api/tenant/plan", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _actions(client: TestClient, who: Member) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = client.get("/api/tenant/audit", headers=who.headers).json()
    return events


def _make_platform_admin(settings: Settings, email: str) -> None:
    db = Database(settings.database_url)
    with db.session() as s:
        s.execute(update(User).where(User.email == email).values(is_platform_admin=True))
    db.dispose()


def _set_plan(client: TestClient, who: Member, plan: str) -> Any:
    return client.put("/api/tenant/plan", json={"plan": plan}, headers=who.headers)


def test_the_plan_shows_limits_features_use_and_period(client: TestClient, alice: Member) -> None:
    body = _plan(client, alice)
    assert body["plan"]["name"] == "free"
    assert body["limits"]["members"] == 2
    assert body["features"] == []
    assert body["usage"]["members"] == 1
    today = datetime.now(UTC).date()
    assert body["period"]["start"] == date(today.year, today.month, 1).isoformat()
    members = next(g for g in body["gauges"] if g["limit"] == "members")
    assert members == {"limit": "members", "used": 1, "allowed": 2, "percent": 50.0, "state": "ok"}
    catalogue = client.get("/api/plans").json()
    assert [p["name"] for p in catalogue["plans"]] == ["free", "household", "pro"]


def test_a_join_beyond_the_seats_is_refused_and_changes_nothing(
    client: TestClient, alice: Member
) -> None:
    invite_and_join(client, alice, "partner@example.com")
    code = client.post("/api/tenant/invites", json={"max_uses": 5}, headers=alice.headers).json()[
        "code"
    ]
    carol = register(client, "carol@example.com")
    refused = client.post("/api/invites/join", json={"code": code}, headers=carol.headers)
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["details"] == {
        "limit": "members",
        "allowed": 2,
        "current": 2,
        "requested": 1,
        "plan": "Free",
        "lifted_by": "Household",
        "overridden": False,
    }
    # Registering with the code is refused as a whole: no account is left behind.
    signup = client.post(
        "/api/auth/register",
        json={"email": "dave@example.com", "password": PASSWORD, "invite_code": code},
    )
    assert signup.status_code == 402
    # A known email gets the very same answer: the code tells nobody who has an account.
    known = client.post(
        "/api/auth/register",
        json={"email": carol.email, "password": PASSWORD, "invite_code": code},
    )
    assert (known.status_code, known.json()) == (402, signup.json())
    with client.app.state.tenancy.db.session() as session:  # type: ignore[attr-defined]
        assert session.scalar(select(User).where(User.email == "dave@example.com")) is None
    invites = client.get("/api/tenant/invites", headers=alice.headers).json()
    assert next(i for i in invites if i["max_uses"] == 5)["uses"] == 0
    assert len(client.get("/api/tenant/members", headers=alice.headers).json()) == 2


def test_only_an_owner_changes_the_plan(client: TestClient, alice: Member) -> None:
    admin = invite_and_join(client, alice, "admin@example.com", role="admin")
    refused = _set_plan(client, admin, "pro")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert _plan(client, alice)["plan"]["name"] == "free"
    assert not [e for e in _actions(client, alice) if e["action"] == "plan.changed"]


def test_a_viewer_cannot_change_the_plan(client: TestClient, alice: Member) -> None:
    viewer = invite_and_join(client, alice, "viewer@example.com", role="viewer")
    assert _set_plan(client, viewer, "pro").status_code == 403
    assert _plan(client, viewer)["plan"]["name"] == "free"


def test_the_owner_changes_plan_and_it_is_audited(client: TestClient, alice: Member) -> None:
    changed = _set_plan(client, alice, "household")
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["plan"]["name"] == "household"
    assert body["limits"]["members"] == 6
    assert "csv_import" in body["features"]
    assert body["trial_ends_at"] is not None  # Household has a 14-day trial
    event = next(e for e in _actions(client, alice) if e["action"] == "plan.changed")
    assert event["actor_id"] == alice.user_id
    assert event["details"]["old"] == "free" and event["details"]["new"] == "household"


def test_forged_plan_fields_in_bodies_are_refused(client: TestClient, alice: Member) -> None:
    attempts = [
        client.post("/api/tenants", json={"name": "Mine", "plan": "pro"}, headers=alice.headers),
        client.patch("/api/tenant", json={"name": "Renamed", "plan": "pro"}, headers=alice.headers),
        client.post(
            "/api/auth/register",
            json={"email": "eve@example.com", "password": PASSWORD, "plan": "pro"},
        ),
        client.put(
            "/api/tenant/plan",
            json={"plan": "free", "limits": {"members": 1000}},
            headers=alice.headers,
        ),
        client.put("/api/tenant/plan", json={"plan": "platinum"}, headers=alice.headers),
        client.post(
            "/api/vouchers",
            json={"purchased_on": "2026-01-01", "amount": "1", "kwh": "1", "plan": "pro"},
            headers=alice.headers,
        ),
    ]
    assert [a.status_code for a in attempts] == [422] * len(attempts)
    platinum = attempts[4].json()["error"]
    assert platinum["details"]["field"] == "plan"
    body = _plan(client, alice)
    assert body["plan"]["name"] == "free" and body["overrides"] == {}
    assert body["limits"]["members"] == 2


def test_a_downgrade_over_use_is_refused_with_what_must_go_first(
    client: TestClient, alice: Member
) -> None:
    assert _set_plan(client, alice, "household").status_code == 200
    invite_and_join(client, alice, "b@example.com")
    third = invite_and_join(client, alice, "c@example.com")
    refused = _set_plan(client, alice, "free")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "plan_change_refused"
    assert error["details"]["over"] == [
        {"limit": "members", "allowed": 2, "current": 3, "remove": 1}
    ]
    assert "remove 1 first" in error["message"]
    assert _plan(client, alice)["plan"]["name"] == "household"
    remove = client.delete(f"/api/tenant/members/{third.user_id}", headers=alice.headers)
    assert remove.status_code == 204
    assert _set_plan(client, alice, "free").status_code == 200


def test_a_csv_import_beyond_the_row_quota_imports_nothing(
    client: TestClient, alice: Member, settings: Settings
) -> None:
    assert _set_plan(client, alice, "household").status_code == 200
    root = register(client, "root@example.com")
    _make_platform_admin(settings, "root@example.com")
    granted = client.put(
        f"/api/admin/tenants/{alice.tenant_id}/overrides/rows.readings",
        json={"value": 3, "note": "test"},
        headers=root.headers,
    )
    assert granted.status_code == 200, granted.text
    csv = {**alice.headers, "content-type": "text/csv"}
    refused = client.post("/api/readings/import", content=CSV, headers=csv)
    assert refused.status_code == 402
    assert refused.json()["error"]["details"]["requested"] == 5
    assert refused.json()["error"]["details"]["current"] == 0
    assert client.get("/api/readings", headers=alice.headers).json()["total"] == 0
    three = "\n".join(CSV.splitlines()[:4]) + "\n"
    assert client.post("/api/readings/import", content=three, headers=csv).status_code == 200
    one_more = client.post(
        "/api/readings",
        json={"read_at": "2026-06-01T08:00:00Z", "meter_kwh": "600"},
        headers=alice.headers,
    )
    assert one_more.status_code == 402
    assert client.get("/api/readings", headers=alice.headers).json()["total"] == 3


def test_csv_import_needs_the_feature(
    client: TestClient, alice: Member, settings: Settings
) -> None:
    csv = {**alice.headers, "content-type": "text/csv"}
    refused = client.post("/api/readings/import", content=CSV, headers=csv)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "feature_not_in_plan"
    assert refused.json()["error"]["details"]["available_in"] == "Household"
    assert client.get("/api/readings", headers=alice.headers).json()["total"] == 0
    root = register(client, "root@example.com")
    _make_platform_admin(settings, "root@example.com")
    grant = client.put(
        f"/api/admin/tenants/{alice.tenant_id}/overrides/feature:csv_import",
        json={"value": 1},
        headers=root.headers,
    )
    assert grant.status_code == 200, grant.text
    assert client.post("/api/readings/import", content=CSV, headers=csv).status_code == 200


def test_a_near_miss_of_a_known_limit_or_feature_is_refused(
    client: TestClient, alice: Member, settings: Settings
) -> None:
    """``member`` and ``feature:csv_imprt`` were stored, shown, and enforced nothing
    (outside tester); a name of the host's own, far from any known one, is still taken."""
    root = register(client, "root@example.com")
    _make_platform_admin(settings, "root@example.com")
    base = f"/api/admin/tenants/{alice.tenant_id}/overrides"
    for typo, meant in (("member", "members"), ("feature:csv_imprt", "feature:csv_import")):
        refused = client.put(f"{base}/{typo}", json={"value": 1}, headers=root.headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["details"]["suggestion"] == meant
    own = client.put(f"{base}/kiosks", json={"value": 2}, headers=root.headers)
    assert own.status_code == 200, own.text
    assert _plan(client, alice)["overrides"] == {"kiosks": 2}


def test_admin_routes_need_a_platform_admin(
    client: TestClient, alice: Member, bob: Member, settings: Settings
) -> None:
    for method, path, body in [
        ("PUT", f"/api/admin/tenants/{bob.tenant_id}/plan", {"plan": "pro"}),
        ("PUT", f"/api/admin/tenants/{bob.tenant_id}/overrides/members", {"value": 99}),
        ("GET", f"/api/admin/tenants/{bob.tenant_id}/plan", None),
    ]:
        response = client.request(method, path, json=body, headers=alice.headers)
        assert response.status_code == 404, (path, response.text)  # the platform gate
    assert _plan(client, bob)["plan"]["name"] == "free"
    assert _plan(client, bob)["overrides"] == {}
    _make_platform_admin(settings, "alice@example.com")
    moved = client.put(
        f"/api/admin/tenants/{bob.tenant_id}/plan", json={"plan": "pro"}, headers=alice.headers
    )
    assert moved.status_code == 200, moved.text
    seen = client.get(f"/api/admin/tenants/{bob.tenant_id}/plan", headers=alice.headers)
    assert seen.status_code == 200 and seen.json()["plan"]["name"] == "pro"
    event = next(e for e in _actions(client, bob) if e["action"] == "platform.plan_changed")
    assert event["actor_id"] == alice.user_id and event["details"]["by_platform_admin"] is True
    unknown = client.put(
        f"/api/admin/tenants/{bob.tenant_id}/plan", json={"plan": "gold"}, headers=alice.headers
    )
    assert unknown.status_code == 422
    missing = client.get(
        "/api/admin/tenants/00000000-0000-0000-0000-000000000000/plan", headers=alice.headers
    )
    assert missing.status_code == 404


def test_a_platform_downgrade_over_use_is_refused_too(
    client: TestClient, alice: Member, settings: Settings
) -> None:
    assert _set_plan(client, alice, "household").status_code == 200
    invite_and_join(client, alice, "b@example.com")
    invite_and_join(client, alice, "c@example.com")
    _make_platform_admin(settings, "alice@example.com")
    refused = client.put(
        f"/api/admin/tenants/{alice.tenant_id}/plan", json={"plan": "free"}, headers=alice.headers
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["details"]["over"][0]["limit"] == "members"
    assert _plan(client, alice)["plan"]["name"] == "household"


def test_soft_limits_are_audited_and_flagged(
    client: TestClient, alice: Member, settings: Settings
) -> None:
    root = register(client, "root@example.com")
    _make_platform_admin(settings, "root@example.com")
    client.put(
        f"/api/admin/tenants/{alice.tenant_id}/overrides/rows.vouchers",
        json={"value": 5},
        headers=root.headers,
    )
    voucher = {"purchased_on": "2026-01-01", "amount": "10", "kwh": "5"}
    for _ in range(3):
        assert client.post("/api/vouchers", json=voucher, headers=alice.headers).status_code == 201
    assert not [e for e in _actions(client, alice) if e["action"].startswith("plan.limit")]
    client.post("/api/vouchers", json=voucher, headers=alice.headers)  # 4 of 5: 80 %
    gauge = next(g for g in _plan(client, alice)["alerts"] if g["limit"] == "rows.vouchers")
    assert gauge["state"] == "warning"
    client.post("/api/vouchers", json=voucher, headers=alice.headers)  # 5 of 5
    actions = [
        (e["action"], e["target"])
        for e in _actions(client, alice)
        if e["action"].startswith("plan.limit")
    ]
    assert sorted(actions) == [
        ("plan.limit_reached", "limit:rows.vouchers"),
        ("plan.limit_warning", "limit:rows.vouchers"),
    ]
    gauge = next(g for g in _plan(client, alice)["alerts"] if g["limit"] == "rows.vouchers")
    assert gauge["state"] == "full"
    page = client.get("/household", headers=alice.headers)
    assert 'class="banner full"' in page.text and "Upgrade to add more" in page.text


def test_metering_counts_in_memory_and_flushes_in_batches(
    app: FastAPI, client: TestClient, alice: Member, settings: Settings
) -> None:
    meter = app.state.tenancy.meter
    meter.flush()
    db = Database(settings.database_url)

    def stored() -> dict[str, int]:
        with db.sessions() as s:
            rows = s.execute(
                select(UsageCounter.metric, UsageCounter.value).where(
                    UsageCounter.tenant_id == uuid.UUID(alice.tenant_id)
                )
            )
            return {m: v for m, v in rows}

    before = stored()
    for _ in range(10):
        assert client.get("/api/tenant", headers=alice.headers).status_code == 200
    voucher = {"purchased_on": "2026-01-01", "amount": "10", "kwh": "5"}
    client.post("/api/vouchers", json=voucher, headers=alice.headers)
    export = client.get("/api/export", headers=alice.headers)
    assert export.status_code == 200, export.text
    exported = export.content
    assert stored() == before, "metering wrote to the database on the request path"
    pending = _plan(client, alice)["usage"]
    assert pending["requests"] >= 12 and pending["export_bytes"] == len(exported)
    assert pending["rows_created.vouchers"] == 1
    assert meter.flush() >= 1
    after = stored()
    assert after["requests"] - before.get("requests", 0) >= 13
    assert after["export_bytes"] == len(exported)
    assert after["rows_created.vouchers"] == 1
    with db.sessions() as s:
        periods = s.scalar(
            select(func.count(func.distinct(UsageCounter.period_start))).where(
                UsageCounter.tenant_id == uuid.UUID(alice.tenant_id)
            )
        )
    db.dispose()
    assert periods == 1


def test_a_monthly_limit_crossed_by_a_flush_is_audited_once(
    app: FastAPI, client: TestClient, alice: Member, settings: Settings
) -> None:
    root = register(client, "root@example.com")
    _make_platform_admin(settings, "root@example.com")
    client.put(
        f"/api/admin/tenants/{alice.tenant_id}/overrides/requests_per_month",
        json={"value": 10},
        headers=root.headers,
    )
    meter = app.state.tenancy.meter
    for _ in range(12):
        client.get("/api/tenant", headers=alice.headers)
    meter.flush()
    client.get("/api/tenant", headers=alice.headers)
    meter.flush()
    reached = [e for e in _actions(client, alice) if e["target"] == "limit:requests_per_month"]
    # The flush thread may have written the 80 % crossing on its own; each crossing once.
    actions = [e["action"] for e in reached]
    assert actions.count("plan.limit_reached") == 1
    assert actions.count("plan.limit_warning") <= 1
    db = Database(settings.database_url)
    with db.sessions() as s:
        count = s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "plan.limit_reached")
        )
    db.dispose()
    assert count == 1


def test_a_limit_set_for_the_tenant_names_no_plan_as_the_fix(
    app: FastAPI, client: TestClient, alice: Member
) -> None:
    """An override caps every plan: "the Free plan allows more" would be false."""
    from tenantry.plans import set_override

    assert _set_plan(client, alice, "household").status_code == 200
    with app.state.tenancy.db.session() as s:
        set_override(
            s, tenant_id=uuid.UUID(alice.tenant_id), name="members", value=1, actor_id=None
        )
    code = client.post("/api/tenant/invites", json={}, headers=alice.headers).json()["code"]
    carol = register(client, "carol@example.com")
    refused = client.post("/api/invites/join", json={"code": code}, headers=carol.headers)
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["details"]["lifted_by"] is None and error["details"]["overridden"] is True
    assert "plan allows more" not in error["message"]


def test_counts_of_a_tenant_gone_before_the_flush_are_dropped(
    app: FastAPI, alice: Member, bob: Member
) -> None:
    """A purged tenant's pending counts must not fail every later flush on the foreign key."""
    meter = app.state.tenancy.meter
    meter.flush()
    meter.add(uuid.uuid4(), "requests", 3)  # a tenant that no longer exists
    meter.add(uuid.UUID(bob.tenant_id), "requests", 2)
    assert meter.flush() == 2
    assert meter.pending(uuid.UUID(bob.tenant_id), meter._period) == {}
    with app.state.tenancy.db.sessions() as s:
        stored = s.scalar(
            select(func.sum(UsageCounter.value)).where(
                UsageCounter.tenant_id == uuid.UUID(bob.tenant_id),
                UsageCounter.metric == "requests",
            )
        )
    assert stored is not None and stored >= 2
    assert meter.flush() == 0  # nothing kept back for a retry


def test_one_flush_of_many_tenants_alerts_each_on_its_own_limit(
    app: FastAPI, client: TestClient, alice: Member, bob: Member, settings: Settings
) -> None:
    """A flush reads every tenant's plan and totals in batches: no crossing is credited to
    another tenant, and a tenant without a monthly limit gets no alert."""
    from tenantry.plans import set_override

    meter = app.state.tenancy.meter
    meter.flush()
    a, b = uuid.UUID(alice.tenant_id), uuid.UUID(bob.tenant_id)
    with app.state.tenancy.db.session() as s:
        set_override(s, tenant_id=a, name="requests_per_month", value=1000, actor_id=None)
        set_override(s, tenant_id=b, name="requests_per_month", value=None, actor_id=None)
    # Alice crosses 80 % of her 1,000 only; Bob, unlimited, counts far more.
    meter.add(a, "requests", 850)
    meter.add(b, "requests", 5000)
    meter.add(uuid.uuid4(), "requests", 10)  # a tenant gone: dropped, not an error
    assert meter.flush() == 3
    db = Database(settings.database_url)
    with db.sessions() as s:
        alerts = s.execute(
            select(AuditEvent.tenant_id, AuditEvent.action).where(
                AuditEvent.target == "limit:requests_per_month"
            )
        ).all()
    db.dispose()
    assert alerts == [(a, "plan.limit_warning")]


def test_entitlements_apply_each_tenants_own_overrides(
    app: FastAPI, alice: Member, bob: Member
) -> None:
    """Plan and overrides come in one joined query: all of one tenant's overrides apply,
    none reaches another tenant, and the single (locking) and batch loads agree."""
    from tenantry.plans import load_entitlements, load_entitlements_many, set_override

    a, b = uuid.UUID(alice.tenant_id), uuid.UUID(bob.tenant_id)
    db = app.state.tenancy.db
    with db.session() as s:
        set_override(s, tenant_id=a, name="rows.readings", value=7, actor_id=None)
        set_override(s, tenant_id=a, name="feature:csv_import", value=1, actor_id=None)
        set_override(s, tenant_id=a, name="requests_per_month", value=None, actor_id=None)
    with db.session() as s:
        alices = load_entitlements(s, a, lock=True)
        bobs = load_entitlements(s, b)
        many = load_entitlements_many(s, [a, b, uuid.uuid4()])
    assert set(many) == {a, b}  # a tenant that does not exist is left out
    assert many[a] == alices and many[b] == bobs
    assert alices.overrides == {
        "rows.readings": 7,
        "feature:csv_import": 1,
        "requests_per_month": None,
    }
    assert alices.limit("rows.readings") == 7 and alices.has("csv_import")
    assert alices.limit("requests_per_month") is None
    assert bobs.overrides == {} and dict(bobs.limits) == dict(bobs.plan.limits)
    assert not bobs.has("csv_import") and bobs.limit("rows.readings") != 7


def test_a_row_limit_set_for_a_tenant_on_an_unlimited_plan_counts_next_request(
    app: FastAPI, client: TestClient, alice: Member, bob: Member
) -> None:
    """Pro has no row quota, so a write of a tenant that overrides nothing skips the quota's
    read; an override of the row limit is seen by the next request, and only for Alice."""
    from tenantry.plans import remove_override, set_override

    def add(who: Member, day: int) -> int:
        body = {"read_at": f"2026-10-{day:02d}T08:00:00Z", "meter_kwh": str(100 + day)}
        return client.post("/api/readings", json=body, headers=who.headers).status_code

    for who in (alice, bob):
        assert _set_plan(client, who, "pro").status_code == 200
        assert [add(who, day) for day in (1, 2)] == [201, 201]
    tenant = uuid.UUID(alice.tenant_id)
    with app.state.tenancy.db.session() as s:
        set_override(s, tenant_id=tenant, name="rows.readings", value=2, actor_id=None)
    assert add(alice, 3) == 402
    assert add(bob, 3) == 201  # Bob's plan is Pro as it is
    with app.state.tenancy.db.session() as s:
        remove_override(s, tenant_id=tenant, name="rows.readings", actor_id=None)
    assert add(alice, 3) == 201


def test_an_override_that_would_limit_nothing_is_refused_by_name(
    client: TestClient, alice: Member, settings: Settings
) -> None:
    """A misspelt row quota (``rows.reading``) was stored and limited nothing, and ``true``
    was taken for 1: the operator believed a grant was made."""
    root = register(client, "root@example.com")
    _make_platform_admin(settings, "root@example.com")
    base = f"/api/admin/tenants/{alice.tenant_id}/overrides"
    misspelt = client.put(f"{base}/rows.reading", json={"value": 3}, headers=root.headers)
    assert misspelt.status_code == 422, misspelt.text
    error = misspelt.json()["error"]
    assert error["details"]["field"] == "name"
    assert "rows.readings" in error["message"] and "rows.vouchers" in error["message"]
    flag = client.put(f"{base}/members", json={"value": True}, headers=root.headers)
    assert flag.status_code == 422, flag.text
    # No requests at all would answer every one "try again in 1 s", for ever.
    none = client.put(f"{base}/requests_per_minute", json={"value": 0}, headers=root.headers)
    assert none.status_code == 422, none.text
    assert "at least 1" in none.json()["error"]["message"]
    assert _plan(client, alice)["overrides"] == {}
    granted = client.put(f"{base}/rows.readings", json={"value": 3}, headers=root.headers)
    assert granted.status_code == 200, granted.text


def test_signing_up_with_a_code_for_the_last_seat_records_the_limit_once(
    client: TestClient, alice: Member
) -> None:
    """Sign-up checks the seat ahead of the join, and the join checks it again: only the
    change that crossed the limit records it."""
    invite_and_join(client, alice, "partner@example.com")  # 2 of 2 seats: the limit reached
    reached = [e for e in _actions(client, alice) if e["action"] == "plan.limit_reached"]
    assert [e["target"] for e in reached] == ["limit:members"]
