"""meterbook's plan gates: CSV import and insights beyond a year need a plan that has them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.meterbook.conftest import Invite, Register

VOUCHERS = "purchased_on,amount,currency,kwh\n2026-01-01,100.00,ZAR,50\n"


def _upgrade(client: TestClient, headers: dict[str, str], plan: str = "household") -> None:
    response = client.put("/api/tenant/plan", json={"plan": plan}, headers=headers)
    assert response.status_code == 200, response.text


def test_voucher_import_needs_the_feature(client: TestClient, alice: dict[str, str]) -> None:
    csv = {**alice, "content-type": "text/csv"}
    refused = client.post("/api/vouchers/import", content=VOUCHERS, headers=csv)
    assert refused.status_code == 402
    assert refused.json()["error"]["details"] == {
        "feature": "csv_import",
        "plan": "Free",
        "available_in": "Household",
    }
    assert client.get("/api/vouchers", headers=alice).json()["total"] == 0
    _upgrade(client, alice)
    assert client.post("/api/vouchers/import", content=VOUCHERS, headers=csv).json() == {
        "imported": 1
    }


def test_a_viewer_is_refused_for_the_role_not_the_plan(
    client: TestClient, alice: dict[str, str], invite: Invite, register: Register
) -> None:
    """No plan lets a viewer import: the 403 says so, not "upgrade" (a 402) on Free."""
    viewer = register("vera@example.com", invite(alice, "viewer"))
    csv = {**viewer, "content-type": "text/csv"}
    for plan in (None, "household"):
        if plan:
            _upgrade(client, alice, plan)
        refused = client.post("/api/vouchers/import", content=VOUCHERS, headers=csv)
        assert refused.status_code == 403, (plan, refused.text)
        assert refused.json()["error"]["code"] == "forbidden"


def test_insights_beyond_the_plans_history_need_long_range_insights(
    client: TestClient, alice: dict[str, str]
) -> None:
    today = datetime.now(UTC).date()
    recent = (today - timedelta(days=300)).isoformat()
    old = (today - timedelta(days=400)).isoformat()
    assert client.get(f"/api/dashboard?from={recent}", headers=alice).status_code == 200
    # Only the end given: the period is the 30 days before it, as old as with both.
    for asked in (f"from={old}", f"to={old}", f"from={old}&to={recent}"):
        refused = client.get(f"/api/dashboard?{asked}", headers=alice)
        assert refused.status_code == 402, (asked, refused.text)
        assert refused.json()["error"]["code"] == "feature_not_in_plan"
        assert refused.json()["error"]["details"]["feature"] == "long_range_insights"
    _upgrade(client, alice, "pro")
    assert client.get(f"/api/dashboard?from={old}", headers=alice).status_code == 200
    assert client.get(f"/api/dashboard?to={old}", headers=alice).status_code == 200


def test_the_dashboard_page_limits_the_range_and_says_why(
    client: TestClient, alice: dict[str, str]
) -> None:
    old = (datetime.now(UTC).date() - timedelta(days=800)).isoformat()
    for asked in (f"start={old}", f"end={old}"):
        page = client.get(f"/dashboard?{asked}", headers=alice)
        assert page.status_code == 200
        assert 'id="history-limited"' in page.text and "Free plan" in page.text, asked
    _upgrade(client, alice)
    page = client.get(f"/dashboard?start={old}", headers=alice)
    assert 'id="history-limited"' not in page.text


def test_the_readings_page_hides_import_and_says_why(
    client: TestClient, alice: dict[str, str]
) -> None:
    page = client.get("/readings", headers=alice).text
    assert 'id="import-locked"' in page and 'action="/t/' not in page.split("import-readings")[1]
    _upgrade(client, alice)
    page = client.get("/readings", headers=alice).text
    assert 'id="import-locked"' not in page and "/readings/import" in page
