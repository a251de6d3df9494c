"""Input that used to pass when it should not, or fail with a 500: each answers a clear 422."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from tenantry.models import Tenant
from tests.meterbook.conftest import Invite, Register

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def household_plan(app: FastAPI, client: TestClient, alice: dict[str, str]) -> None:
    """Alice's household on the plan with CSV import and room for members (not under test)."""
    tenant_id = uuid.UUID(client.get("/api/me", headers=alice).json()["current_tenant_id"])
    with app.state.tenancy.db.session() as session:
        session.execute(update(Tenant).where(Tenant.id == tenant_id).values(plan="household"))


def _error(response: Any, field: str) -> str:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert field in error["message"] or error.get("details", {}).get("field") == field
    return str(error["message"])


def _reading(**extra: Any) -> dict[str, Any]:
    return {"read_at": (NOW - timedelta(hours=1)).isoformat(), "meter_kwh": "10", **extra}


def _voucher(**extra: Any) -> dict[str, Any]:
    return {"purchased_on": date.today().isoformat(), "amount": "10", "kwh": "5", **extra}


@pytest.mark.parametrize("number", ["1e999999", "-1e999999", "1e-999999"])
def test_huge_and_tiny_exponents_are_refused(
    client: TestClient, alice: dict[str, str], number: str
) -> None:
    _error(
        client.post("/api/readings", json=_reading(meter_kwh=number), headers=alice), "meter_kwh"
    )
    _error(client.post("/api/vouchers", json=_voucher(amount=number), headers=alice), "amount")
    _error(client.post("/api/vouchers", json=_voucher(kwh=number), headers=alice), "kwh")
    csv = f"purchased_on,amount,kwh\n{date.today().isoformat()},{number},1\n"
    imported = client.post(
        "/api/vouchers/import", content=csv, headers={**alice, "content-type": "text/csv"}
    )
    assert imported.status_code == 422, imported.text
    assert client.get("/api/vouchers", headers=alice).json()["total"] == 0


def test_dates_before_1900_are_refused(client: TestClient, alice: dict[str, str]) -> None:
    message = _error(
        client.post("/api/readings", json=_reading(read_at="0001-01-01T00:00:00Z"), headers=alice),
        "read_at",
    )
    assert "1900-01-01" in message
    # 1900-01-01 where it was read, 1899 in UTC (as stored, listed and exported): refused
    early = _reading(read_at="1900-01-01T00:30:00+01:00")
    assert "1900-01-01" in _error(
        client.post("/api/readings", json=early, headers=alice), "read_at"
    )
    _error(
        client.post("/api/vouchers", json=_voucher(purchased_on="0001-01-01"), headers=alice),
        "purchased_on",
    )
    csv = "read_at,meter_kwh\n0001-01-01T00:00:00Z,1\n"
    imported = client.post(
        "/api/readings/import", content=csv, headers={**alice, "content-type": "text/csv"}
    )
    assert imported.status_code == 422
    assert client.get("/api/readings", headers=alice).json()["total"] == 0


def test_far_future_dates_are_refused(client: TestClient, alice: dict[str, str]) -> None:
    _error(
        client.post("/api/readings", json=_reading(read_at="9999-12-31T23:59:59Z"), headers=alice),
        "read_at",
    )
    _error(
        client.post("/api/vouchers", json=_voucher(purchased_on="9999-12-31"), headers=alice),
        "purchased_on",
    )


@pytest.mark.parametrize("path", ["/api/readings", "/api/vouchers", "/api/dashboard"])
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("to", "0"),
        ("from", "1700000000"),
        ("to", "2025-13-01"),
        ("from", "0001-01-01"),
        ("to", "9999-12-31"),
    ],
)
def test_date_filters_take_iso_dates_only(
    client: TestClient, alice: dict[str, str], path: str, name: str, value: str
) -> None:
    response = client.get(path, params={name: value}, headers=alice)
    assert response.status_code == 422, response.text
    assert name in response.json()["error"]["message"]


def test_date_filter_in_range_is_accepted(client: TestClient, alice: dict[str, str]) -> None:
    for path in ("/api/readings", "/api/vouchers", "/api/dashboard"):
        response = client.get(
            path, params={"from": "2024-01-01", "to": "2024-12-31"}, headers=alice
        )
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/api/readings", ["date", "-meter_kwh"]), ("/api/vouchers", ["amount", "-kwh"])],
)
def test_unknown_sort_is_refused_with_the_allowed_values(
    client: TestClient, alice: dict[str, str], path: str, allowed: list[str]
) -> None:
    response = client.get(path, params={"sort": "-zzz"}, headers=alice)
    message = _error(response, "sort")
    for value in allowed:
        assert f"'{value}'" in message
    for value in allowed:
        assert client.get(path, params={"sort": value}, headers=alice).status_code == 200


def test_nul_in_text_is_refused_on_every_backend(client: TestClient, alice: dict[str, str]) -> None:
    _error(client.post("/api/readings", json=_reading(note="a\x00b"), headers=alice), "note")
    _error(client.post("/api/vouchers", json=_voucher(notes="a\x00b"), headers=alice), "notes")
    _error(client.post("/api/vouchers", json=_voucher(vendor="\x00"), headers=alice), "vendor")
    created = client.post("/api/readings", json=_reading(), headers=alice).json()
    _error(
        client.patch(f"/api/readings/{created['id']}", json={"note": "\x00"}, headers=alice),
        "note",
    )
    csv = f"read_at,meter_kwh,note\n{NOW.isoformat()},11,a\x00b\n"
    imported = client.post(
        "/api/readings/import", content=csv, headers={**alice, "content-type": "text/csv"}
    )
    assert imported.status_code == 422
    assert client.get("/api/readings", headers=alice).json()["total"] == 1


def test_csv_export_is_for_members_as_documented(
    client: TestClient, alice: dict[str, str], register: Register, invite: Invite
) -> None:
    viewer = register("vera@example.com", invite(alice, "viewer"))
    member = register("mo@example.com", invite(alice, "member"))
    for path in ("/api/readings.csv", "/api/vouchers.csv"):
        assert client.get(path, headers=viewer).status_code == 403
        assert client.get(path, headers=member).status_code == 200


@pytest.mark.parametrize("number", ["\uff16\uff15\uff10", "\u0666\u0665\u0660", "1_000"])
def test_decimals_take_ascii_digits_only(
    client: TestClient, alice: dict[str, str], number: str
) -> None:
    """The schema's pattern is ECMA's: its \\d is [0-9], not every script's digits."""
    message = _error(
        client.post("/api/readings", json=_reading(meter_kwh=number), headers=alice), "meter_kwh"
    )
    assert "use a decimal such as 1234.567" in message
    _error(client.post("/api/vouchers", json=_voucher(amount=number), headers=alice), "amount")
    assert client.get("/api/readings", headers=alice).json()["total"] == 0


@pytest.mark.parametrize(
    ("kind", "made", "field"),
    [
        ("readings", {"read_at": "2026-01-01T06:00:00Z", "meter_kwh": "12.5"}, "meter_kwh"),
        ("readings", {"read_at": "2026-01-01T06:00:00Z", "meter_kwh": "12.5"}, "read_at"),
        ("vouchers", {"purchased_on": "2026-01-01", "amount": "100", "kwh": "50"}, "amount"),
        ("vouchers", {"purchased_on": "2026-01-01", "amount": "100", "kwh": "50"}, "currency"),
    ],
)
def test_a_null_in_a_patch_is_refused_not_taken_for_unchanged(
    client: TestClient, alice: dict[str, str], kind: str, made: dict[str, str], field: str
) -> None:
    row = client.post(f"/api/{kind}", json=made, headers=alice).json()
    answer = client.patch(f"/api/{kind}/{row['id']}", json={field: None}, headers=alice)
    assert answer.status_code == 422
    assert answer.json()["error"]["message"].startswith(f"{field}: cannot be null")
    left_out = client.patch(f"/api/{kind}/{row['id']}", json={}, headers=alice)
    assert left_out.status_code == 200  # a field left out keeps its value
    # The schema says so too: no null among a field's types, no null default.
    body = "ReadingPatch" if kind == "readings" else "VoucherPatch"
    schema = client.get("/openapi.json").json()["components"]["schemas"][body]
    shown = str(schema["properties"][field])
    assert "null" not in shown and "None" not in shown, shown


def test_a_wrong_value_in_a_patch_names_its_field(
    client: TestClient, alice: dict[str, str]
) -> None:
    """``{"is_replacement": "yes"}`` was reported under ``is_replacement.bool`` and
    ``is_replacement.none``, the branches of the field's type (outside tester)."""
    made = {"read_at": "2026-01-01T06:00:00Z", "meter_kwh": "12.5"}
    row = client.post("/api/readings", json=made, headers=alice).json()
    answer = client.patch(
        f"/api/readings/{row['id']}", json={"is_replacement": "yes"}, headers=alice
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["details"]["fields"] == [
        {"field": "is_replacement", "message": "must be true or false"}
    ], error


# A header line the csv module cannot read: it raised out of the import (a 500, and the
# connection reset), where the same defect in a row was a 422 naming its line.
BAD_HEADERS = {
    "text after a closing quote": '"{first}"x,{rest}\n',
    "an unclosed quote": '{first},"{rest}\n',
    "a value over the csv field limit": "{first},{rest}" + "x" * 131_073 + "\n",
}
IMPORTS = {
    "readings": ("read_at", "meter_kwh,note\n2024-01-01T07:00,100,a\n"),
    "vouchers": ("purchased_on", "amount,kwh\n2024-05-01,500,170\n"),
}


@pytest.mark.parametrize("defect", BAD_HEADERS)
@pytest.mark.parametrize("kind", IMPORTS)
def test_a_header_the_csv_module_cannot_read_is_a_422_at_line_1(
    client: TestClient, alice: dict[str, str], kind: str, defect: str
) -> None:
    first, rest = IMPORTS[kind]
    text = BAD_HEADERS[defect].format(first=first, rest=rest.split("\n", 1)[0]) + rest
    response = client.post(
        f"/api/{kind}/import", content=text, headers={**alice, "content-type": "text/csv"}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "line 1, header" in error["message"]
    assert [(r["row"], r["field"]) for r in error["details"]["rows"]] == [(1, "header")]
    # Nothing written, and the same client's next request is answered.
    listed = client.get(f"/api/{kind}", headers=alice)
    assert listed.status_code == 200 and listed.json()["total"] == 0
