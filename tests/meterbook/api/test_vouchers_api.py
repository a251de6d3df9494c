from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.testclient import TestClient

    Register = Callable[..., dict[str, str]]
    Invite = Callable[..., str]

from datetime import UTC, datetime, timedelta

TODAY = datetime.now(UTC).date()


def voucher(
    days_ago: int = 0, amount: str = "500.00", kwh: str = "172.5", **extra: str
) -> dict[str, str]:
    return {
        "purchased_on": (TODAY - timedelta(days=days_ago)).isoformat(),
        "amount": amount,
        "kwh": kwh,
        **extra,
    }


def test_crud(client: TestClient, alice: dict[str, str]) -> None:
    created = client.post("/api/vouchers", json=voucher(token_number="1234 5678"), headers=alice)
    assert created.status_code == 201
    body = created.json()
    assert (body["amount"], body["kwh"], body["currency"], body["price_per_kwh"]) == (
        "500.00",
        "172.500",
        "ZAR",
        "2.8986",
    )
    vid = body["id"]
    patched = client.patch(
        f"/api/vouchers/{vid}", json={"amount": "450", "currency": "eur"}, headers=alice
    )
    assert patched.json()["amount"] == "450.00"
    assert patched.json()["currency"] == "EUR"
    assert client.get(f"/api/vouchers/{vid}", headers=alice).json()["vendor"] == ""
    assert client.delete(f"/api/vouchers/{vid}", headers=alice).status_code == 204
    assert client.get(f"/api/vouchers/{vid}", headers=alice).status_code == 404


def test_validation(client: TestClient, alice: dict[str, str]) -> None:
    for body, field in (
        (voucher(amount="-1"), "amount"),
        (voucher(kwh="-0.001"), "kwh"),
        (voucher(amount="1.001"), "amount"),
        (voucher(days_ago=-5), "purchased_on"),
        (voucher(currency="QQQ"), "currency"),  # three letters, no currency
    ):
        response = client.post("/api/vouchers", json=body, headers=alice)
        assert response.status_code == 422, body
        assert response.json()["error"]["details"]["field"] == field


def test_list_sort_filter(client: TestClient, alice: dict[str, str]) -> None:
    for days, amount in ((40, "100"), (20, "300"), (1, "200")):
        client.post("/api/vouchers", json=voucher(days, amount), headers=alice)
    by_amount = client.get("/api/vouchers", params={"sort": "-amount"}, headers=alice).json()
    assert [v["amount"] for v in by_amount["items"]] == ["300.00", "200.00", "100.00"]
    recent = client.get(
        "/api/vouchers", params={"from": (TODAY - timedelta(days=30)).isoformat()}, headers=alice
    ).json()
    assert recent["total"] == 2


def test_isolation_and_viewer(
    client: TestClient,
    alice: dict[str, str],
    bob: dict[str, str],
    register: Register,
    invite: Invite,
) -> None:
    theirs = client.post("/api/vouchers", json=voucher(), headers=bob).json()["id"]
    other = client.get(f"/api/vouchers/{theirs}", headers=alice)
    missing = client.get(f"/api/vouchers/{theirs + 1}", headers=alice)
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    viewer = register("vera@example.com", invite(alice, "viewer"))
    assert client.post("/api/vouchers", json=voucher(), headers=viewer).status_code == 403
    assert client.get("/api/vouchers", headers=viewer).status_code == 200


@pytest.mark.usefixtures("household_plan")
def test_import_and_export(client: TestClient, alice: dict[str, str]) -> None:
    bad = "purchased_on,amount,kwh\n2024-05-01,500,170\n2024-05-02,-1,170\n"
    response = client.post(
        "/api/vouchers/import", content=bad, headers={**alice, "content-type": "text/csv"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"]["rows"] == [
        {"row": 3, "field": "amount", "message": "must not be negative"}
    ]
    assert client.get("/api/vouchers", headers=alice).json()["total"] == 0
    good = "purchased_on,amount,currency,kwh,vendor\n2024-05-01,500,ZAR,170,Spar\n"
    response = client.post(
        "/api/vouchers/import", content=good, headers={**alice, "content-type": "text/csv"}
    )
    assert response.json() == {"imported": 1}
    exported = client.get("/api/vouchers.csv", headers=alice).text.splitlines()
    assert exported == [
        "purchased_on,amount,currency,kwh,token_number,vendor,notes",
        "2024-05-01,500.00,ZAR,170.000,,Spar,",
    ]


def test_an_export_imports_into_another_household_unchanged(
    client: TestClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    """Text a spreadsheet would run is guarded in the file, and the guard is taken off again."""
    texts = {"vendor": "@SUM(1+1)", "notes": "'=x"}
    assert client.post("/api/vouchers", json=voucher(1, **texts), headers=alice).status_code == 201
    exported = client.get("/api/vouchers.csv", headers=alice).text
    assert "'@SUM(1+1)" in exported and "''=x" in exported  # no formula for spreadsheets
    plan = client.put("/api/tenant/plan", json={"plan": "household"}, headers=bob)
    assert plan.status_code == 200, plan.text
    response = client.post(
        "/api/vouchers/import", content=exported, headers={**bob, "content-type": "text/csv"}
    )
    assert response.json() == {"imported": 1}
    [imported] = client.get("/api/vouchers", headers=bob).json()["items"]
    assert {k: imported[k] for k in texts} == texts
