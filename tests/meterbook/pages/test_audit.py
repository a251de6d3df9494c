"""The household's audit page and CSV: bad date filters are refused, details are JSON."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient


def _get(client: TestClient, person: dict[str, str], path: str, **params: Any) -> Any:
    slug = client.get("/api/tenant", headers=person).json()["slug"]
    client.cookies.set("tenantry_access", person["Authorization"].removeprefix("Bearer "))
    try:
        return client.get(f"/t/{slug}{path}", params=params, follow_redirects=False)
    finally:
        client.cookies.delete("tenantry_access")


@pytest.mark.parametrize(("field", "label"), [("start", "From"), ("end", "To")])
def test_a_bad_date_filter_is_shown_on_the_page(
    client: TestClient, alice: dict[str, str], field: str, label: str
) -> None:
    page = _get(client, alice, "/household/audit", **{field: "garbage"})
    assert page.status_code == 422
    assert f"{label}: &#39;garbage&#39; is not a date (YYYY-MM-DD)" in page.text
    assert "member.added" not in page.text  # not the unfiltered trail as if nothing was asked
    good = _get(client, alice, "/household/audit", **{field: "2026-01-01"})
    assert good.status_code == 200 and 'class="error"' not in good.text


def test_a_bad_date_filter_on_the_csv_is_a_422_naming_it(
    client: TestClient, alice: dict[str, str]
) -> None:
    response = _get(client, alice, "/household/audit.csv", end="31/12/2026")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")  # the pages' error page
    assert "To: &#39;31/12/2026&#39; is not a date (YYYY-MM-DD)" in response.text


def test_the_csv_details_column_is_json(client: TestClient, alice: dict[str, str]) -> None:
    made = client.post(
        "/api/readings",
        json={"read_at": "2026-01-01T06:00:00Z", "meter_kwh": "12.5", "note": "n"},
        headers=alice,
    ).json()
    client.patch(f"/api/readings/{made['id']}", json={"note": "m"}, headers=alice)
    response = _get(client, alice, "/household/audit.csv", action="row")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    updated = [r for r in rows if r["action"] == "row.updated"]
    assert updated, rows
    assert json.loads(updated[0]["details"]) == {"fields": ["note"]}
    assert all(json.loads(r["details"]) is not None for r in rows)


@pytest.mark.parametrize("member", ["999999999999999999999", "x1", "-3"])
def test_a_member_that_cannot_be_one_is_refused_on_the_page(
    client: TestClient, alice: dict[str, str], member: str
) -> None:
    page = _get(client, alice, "/household/audit", member=member)
    assert page.status_code == 422
    assert "is not a member&#39;s number; pick one from the list" in page.text
    assert "member.added" not in page.text


@pytest.mark.parametrize("action", ["rows", "x"])
def test_an_action_not_in_the_list_is_refused_on_the_page(
    client: TestClient, alice: dict[str, str], action: str
) -> None:
    page = _get(client, alice, "/household/audit", action=action)
    assert page.status_code == 422
    assert f"Action: &#39;{action}&#39; is not one of the list" in page.text
    assert "member.added" not in page.text  # not the unfiltered trail as if nothing was asked
    assert _get(client, alice, "/household/audit", action="member").status_code == 200
