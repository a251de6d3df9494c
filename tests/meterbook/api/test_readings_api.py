from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, event

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.testclient import TestClient

    Register = Callable[..., dict[str, str]]
    Invite = Callable[..., str]

from datetime import UTC, datetime, timedelta

NOW = datetime.now(UTC).replace(microsecond=0)


def add(client: TestClient, headers: dict[str, str], days_ago: float, kwh: str, **extra: Any):  # type: ignore[no-untyped-def]
    body = {"read_at": (NOW - timedelta(days=days_ago)).isoformat(), "meter_kwh": kwh, **extra}
    return client.post("/api/readings", json=body, headers=headers)


def test_create_list_and_consumption(client: TestClient, alice: dict[str, str]) -> None:
    for days, kwh in ((3, "100"), (2, "110.5"), (1, "112.25")):
        assert add(client, alice, days, kwh).status_code == 201
    body = client.get("/api/readings", headers=alice).json()
    assert body["total"] == 3
    assert [i["meter_kwh"] for i in body["items"]] == ["112.250", "110.500", "100.000"]
    assert [i["consumed_kwh"] for i in body["items"]] == ["1.750", "10.500", None]


def test_pagination_sorting_and_date_filters(client: TestClient, alice: dict[str, str]) -> None:
    for days in range(10, 0, -1):
        add(client, alice, days, str(100 + (10 - days)))
    page = client.get(
        "/api/readings", params={"sort": "date", "limit": 3, "offset": 3}, headers=alice
    ).json()
    assert [i["meter_kwh"] for i in page["items"]] == ["103.000", "104.000", "105.000"]
    assert page["total"] == 10
    start = (NOW - timedelta(days=3)).date().isoformat()
    filtered = client.get("/api/readings", params={"from": start}, headers=alice).json()
    assert filtered["total"] in (3, 4)  # depending on the time of day
    # The first reading in the range still shows what was used since the one before it.
    assert all(i["consumed_kwh"] == "1.000" for i in filtered["items"])


def test_total_counts_only_the_tenants_rows_in_the_period(
    client: TestClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    """The total rides on the page's rows: Bob's readings never count in Alice's, and a
    page past the end still says how many there are."""
    for days in (5, 4, 3):
        assert add(client, alice, days, str(100 + 10 * (5 - days))).status_code == 201
    for days in range(9, 0, -1):
        assert add(client, bob, days, str(500 + 10 * (9 - days))).status_code == 201

    def day(ago: int) -> str:
        return (NOW - timedelta(days=ago)).date().isoformat()

    cases = [({}, 3), ({"from": day(4)}, 2), ({"to": day(5)}, 1), ({"from": day(2)}, 0)]
    for params, expected in cases:
        page = client.get("/api/readings", params={**params, "limit": 2}, headers=alice).json()
        assert page["total"] == expected, params
        assert len(page["items"]) == min(expected, 2)
    beyond = client.get("/api/readings", params={"offset": 10}, headers=alice).json()
    assert beyond == {"items": [], "total": 3, "limit": 50, "offset": 10}
    assert client.get("/api/readings", headers=bob).json()["total"] == 9


def test_validation_errors_are_clear(client: TestClient, alice: dict[str, str]) -> None:
    add(client, alice, 2, "500")
    lower = add(client, alice, 1, "499")
    assert lower.status_code == 422
    assert lower.json()["error"]["details"]["field"] == "meter_kwh"
    assert "replacement" in lower.json()["error"]["message"]
    assert add(client, alice, 1, "3", is_replacement=True).status_code == 201
    future = add(client, alice, -1, "600")
    assert future.status_code == 422
    assert future.json()["error"]["details"]["field"] == "read_at"
    assert add(client, alice, 0.5, "-1").json()["error"]["details"]["field"] == "meter_kwh"
    assert add(client, alice, 0.5, "1.0001").status_code == 422
    extra = add(client, alice, 0.5, "10", tenant_id="x")
    assert extra.status_code == 422


def test_order_rules_look_only_at_the_households_own_readings(
    client: TestClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    """The before/after lookup of a new reading sees its own household's readings only:
    Bob's on either side never make Alice's meter seem to run backwards, nor hers his."""
    for days, kwh in ((3, "9000"), (1, "9500")):
        assert add(client, bob, days, kwh).status_code == 201
    assert add(client, alice, 2, "5").status_code == 201  # Bob's 9000 before would refuse it
    assert add(client, alice, 0.5, "6").status_code == 201
    assert add(client, bob, 2.2, "9100").status_code == 201  # Alice's 5 after would refuse it
    # Her own neighbours still count, on both sides.
    assert add(client, alice, 1.5, "4").status_code == 422
    assert add(client, alice, 1.5, "7").status_code == 422
    assert add(client, alice, 1.5, "5.5").status_code == 201


def test_read_update_delete(client: TestClient, alice: dict[str, str]) -> None:
    first = add(client, alice, 2, "100").json()
    second = add(client, alice, 1, "120").json()
    got = client.get(f"/api/readings/{first['id']}", headers=alice).json()
    assert got["meter_kwh"] == "100.000"
    changed = client.patch(
        f"/api/readings/{first['id']}", json={"meter_kwh": "110", "note": "fixed"}, headers=alice
    )
    assert changed.status_code == 200
    assert changed.json()["note"] == "fixed"
    too_high = client.patch(
        f"/api/readings/{first['id']}", json={"meter_kwh": "130"}, headers=alice
    )
    assert too_high.status_code == 422
    assert client.delete(f"/api/readings/{second['id']}", headers=alice).status_code == 204
    assert client.get(f"/api/readings/{second['id']}", headers=alice).status_code == 404


def test_a_patch_reads_the_reading_and_locks_the_household_once(
    client: TestClient, alice: dict[str, str]
) -> None:
    """The route reads the stored reading (for the fields left out) and the service reads
    it again: one SELECT, from the session's identity map the second time; and one lock."""
    reading = add(client, alice, 2, "100").json()
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        changed = client.patch(
            f"/api/readings/{reading['id']}", json={"note": "fixed"}, headers=alice
        )
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert changed.status_code == 200
    by_key = [s for s in statements if s.startswith("SELECT readings.") and "readings.id =" in s]
    assert len(by_key) == 1, by_key
    assert len([s for s in statements if "FOR UPDATE" in s]) <= 1  # none on SQLite


def test_other_households_ids_look_like_missing_ones(
    client: TestClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    theirs = add(client, bob, 1, "100").json()["id"]
    for method in ("get", "patch", "delete"):
        kwargs: dict[str, Any] = {"headers": alice}
        if method == "patch":
            kwargs["json"] = {"note": "mine now"}
        other = getattr(client, method)(f"/api/readings/{theirs}", **kwargs)
        missing = getattr(client, method)(f"/api/readings/{theirs + 1}", **kwargs)
        assert other.status_code == missing.status_code == 404
        assert other.json() == missing.json()
    assert client.get("/api/readings", headers=alice).json()["total"] == 0
    assert client.get(f"/api/readings/{theirs}", headers=bob).json()["note"] == ""


@pytest.mark.usefixtures("household_plan")
def test_viewers_read_only(
    client: TestClient, alice: dict[str, str], register: Register, invite: Invite
) -> None:
    reading = add(client, alice, 1, "100").json()
    viewer = register("vera@example.com", invite(alice, "viewer"))
    assert client.get("/api/readings", headers=viewer).json()["total"] == 1
    assert add(client, viewer, 0.5, "101").status_code == 403
    assert client.delete(f"/api/readings/{reading['id']}", headers=viewer).status_code == 403
    imported = client.post(
        "/api/readings/import",
        content="read_at,meter_kwh\n2020-01-01,1\n",
        headers={**viewer, "content-type": "text/csv"},
    )
    assert imported.status_code == 403


@pytest.mark.usefixtures("household_plan")
def test_import_is_all_or_nothing(client: TestClient, alice: dict[str, str]) -> None:
    add(client, alice, 1, "500")
    bad = (
        "read_at,meter_kwh,note\n"
        "2024-01-01T07:00,100,ok\n"
        "2024-01-02T07:00,90,lower\n"
        "2099-01-01T07:00,900,future\n"
        "not a date,1,\n"
    )
    response = client.post(
        "/api/readings/import", content=bad, headers={**alice, "content-type": "text/csv"}
    )
    assert response.status_code == 422
    rows = response.json()["error"]["details"]["rows"]
    assert [(r["row"], r["field"]) for r in rows] == [
        (3, "meter_kwh"),
        (4, "read_at"),
        (5, "read_at"),
    ]
    assert client.get("/api/readings", headers=alice).json()["total"] == 1
    good = "read_at,meter_kwh\n2024-01-01T07:00,100\n2024-01-02T07:00,110\n"
    response = client.post(
        "/api/readings/import", files={"file": ("r.csv", good, "text/csv")}, headers=alice
    )
    assert response.json() == {"imported": 2}
    assert client.get("/api/readings", headers=alice).json()["total"] == 3


@pytest.mark.usefixtures("household_plan")
def test_an_import_is_checked_against_the_stored_readings_it_lands_between(
    client: TestClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    """Only the stored readings next to the file's are read: the nearest before and after
    its range count as much as those inside it, and another household's never."""
    for days, kwh in ((40, "100"), (30, "500"), (20, "1000"), (10, "1500")):
        assert add(client, alice, days, kwh).status_code == 201
    assert add(client, bob, 25, "1").status_code == 201  # bob's lower meter is not alice's

    def day(days_ago: int) -> str:
        return (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S")

    def refused(*rows: tuple[int, str]) -> list[tuple[int, str, str]]:
        text = "read_at,meter_kwh\n" + "".join(f"{day(d)},{kwh}\n" for d, kwh in rows)
        response = client.post(
            "/api/readings/import", content=text, headers={**alice, "content-type": "text/csv"}
        )
        if response.status_code == 200:
            return []
        assert response.status_code == 422, response.text
        found = response.json()["error"]["details"]["rows"]
        return [(r["row"], r["field"], r["message"]) for r in found]

    # Between day 30 (500) and day 20 (1000): the next stored reading is outside the file.
    assert refused((25, "600"), (24, "1100")) == [(3, "meter_kwh", "higher than the next reading")]
    # After day 10 (1500), the last stored: lower than it.
    assert refused((5, "1400")) == [
        (2, "meter_kwh", "lower than the previous reading; mark it as a meter replacement")
    ]
    # Spanning stored readings: day 20 (1000) sits inside the file's range.
    assert refused((35, "200"), (15, "900")) == [
        (3, "meter_kwh", "lower than the previous reading; mark it as a meter replacement")
    ]
    assert refused((20, "1000")) == [(2, "read_at", "another reading has exactly this time")]
    assert refused((25, "600"), (15, "1200"), (5, "1600")) == []  # in order with all four
    assert client.get("/api/readings", headers=alice).json()["total"] == 7


def test_csv_export_round_trips(
    client: TestClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    add(client, alice, 2, "100", note="=HYPERLINK(x)")
    add(client, alice, 1, "101.5")
    add(client, bob, 1, "999")
    text = client.get("/api/readings.csv", headers=alice).text
    lines = text.strip().splitlines()
    assert lines[0] == "read_at,meter_kwh,note,is_replacement"
    assert len(lines) == 3
    assert "'=HYPERLINK(x)" in text  # no formula for spreadsheets
    assert "999" not in text
    client.delete(f"/api/readings/{add(client, bob, 0.5, '1000').json()['id']}", headers=bob)
    bobs = client.get("/api/readings", headers=bob).json()["items"]
    client.delete(f"/api/readings/{bobs[0]['id']}", headers=bob)
    plan = client.put("/api/tenant/plan", json={"plan": "household"}, headers=bob)
    assert plan.status_code == 200, plan.text
    response = client.post(
        "/api/readings/import", content=text, headers={**bob, "content-type": "text/csv"}
    )
    assert response.json() == {"imported": 2}
    notes = [r["note"] for r in client.get("/api/readings", headers=bob).json()["items"]]
    assert sorted(notes) == ["", "=HYPERLINK(x)"]  # the guard is taken off again


@pytest.mark.parametrize("kind", ["readings", "vouchers"])
@pytest.mark.parametrize("row_id", [2**63, 99999999999999999999999])
def test_an_id_beyond_the_database_s_integers_is_not_found(
    client: TestClient, alice: dict[str, str], kind: str, row_id: int
) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        body = {"json": {}} if method == "PATCH" else {}
        response = client.request(method, f"/api/{kind}/{row_id}", headers=alice, **body)
        assert response.status_code == 404, (method, response.text)
        assert response.json()["error"]["code"] == "not_found"
    slug = client.get("/api/tenant", headers=alice).json()["slug"]
    page = client.get(f"/t/{slug}/{kind}/{row_id}/edit", headers=alice)
    assert page.status_code == 404


def test_a_time_given_with_an_offset_is_answered_in_utc_as_reads_show_it(
    client: TestClient, alice: dict[str, str]
) -> None:
    at = (NOW - timedelta(days=1)).astimezone(UTC).replace(tzinfo=None).isoformat()
    made = client.post(
        "/api/readings", json={"read_at": f"{at}-05:00", "meter_kwh": "7"}, headers=alice
    ).json()
    assert made["read_at"].endswith("+00:00")
    got = client.get(f"/api/readings/{made['id']}", headers=alice).json()
    assert got["read_at"] == made["read_at"]
    moved = client.patch(
        f"/api/readings/{made['id']}", json={"read_at": f"{at}+02:00"}, headers=alice
    ).json()
    assert moved["read_at"].endswith("+00:00")
