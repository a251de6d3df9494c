from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.testclient import TestClient

    Register = Callable[..., dict[str, str]]
    Invite = Callable[..., str]

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()


def _read_on(
    client: TestClient, who: dict[str, str], day: date, kwh: str, replacement: bool = False
) -> None:
    """A reading at midnight UTC of ``day``."""
    answer = client.post(
        "/api/readings",
        json={
            "read_at": datetime.combine(day, time.min, tzinfo=UTC).isoformat(),
            "meter_kwh": kwh,
            "is_replacement": replacement,
        },
        headers=who,
    )
    assert answer.status_code == 201, answer.text


def _period(client: TestClient, who: dict[str, str], first: date, last: date) -> Any:
    answer = client.get(
        "/api/dashboard", params={"from": first.isoformat(), "to": last.isoformat()}, headers=who
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_dashboard_figures(client: TestClient, alice: dict[str, str], bob: dict[str, str]) -> None:
    for days, kwh in ((10, "1000"), (5, "1050"), (4, "5"), (0.5, "45")):
        client.post(
            "/api/readings",
            json={
                "read_at": (NOW - timedelta(days=days)).isoformat(),
                "meter_kwh": kwh,
                "is_replacement": days == 4,
            },
            headers=alice,
        )
    client.post(
        "/api/vouchers",
        json={"purchased_on": NOW.date().isoformat(), "amount": "600", "kwh": "200"},
        headers=alice,
    )
    # Another household's data must not leak into any figure.
    client.post("/api/readings", json={"read_at": NOW.isoformat(), "meter_kwh": "9"}, headers=bob)
    client.post(
        "/api/vouchers",
        json={"purchased_on": NOW.date().isoformat(), "amount": "1", "kwh": "999"},
        headers=bob,
    )
    d = client.get("/api/dashboard", headers=alice).json()
    assert d["consumed_kwh"] == "90.000"  # 50 before the replacement, 0 across it, 40 after
    assert d["total_consumed_kwh"] == "90.000"
    # 90 kWh over 8.5 days: the day ending at the replacement has no known use.
    assert d["daily_average_kwh"] == "10.588"
    assert d["total_bought_kwh"] == "200.000"
    assert d["balance_kwh"] == "110.000"
    assert d["days_left"] == "10.4"
    assert d["price_per_kwh"] == "3.0000"
    assert d["last_meter_kwh"] == "45.000"
    this_month = d["months"][-1]
    assert this_month["spent"] == "600.00"
    assert sum(float(m["consumed_kwh"]) for m in d["months"]) == 90.0


def test_a_voucher_in_another_currency_counts_in_its_month(
    client: TestClient, alice: dict[str, str]
) -> None:
    """kWh are kWh in any currency: a month's bought kWh and vouchers add up to the totals;
    its spend names each currency, ``spent`` the main one's."""
    for amount, kwh, currency in (("100", "30", "ZAR"), ("100", "30", "ZAR"), ("20", "100", "EUR")):
        made = client.post(
            "/api/vouchers",
            json={
                "purchased_on": TODAY.isoformat(),
                "amount": amount,
                "kwh": kwh,
                "currency": currency,
            },
            headers=alice,
        )
        assert made.status_code == 201, made.text
    d = client.get("/api/dashboard", headers=alice).json()
    assert d["currency"] == "ZAR" and d["total_bought_kwh"] == "160.000"
    month = d["months"][-1]
    assert month["bought_kwh"] == "160.000" and month["vouchers"] == 3
    assert month["spent"] == "200.00"
    assert month["spend"] == {"EUR": "20.00", "ZAR": "200.00"}
    assert sum(float(m["bought_kwh"]) for m in d["months"]) == 160.0


def test_dashboard_period_and_empty(client: TestClient, alice: dict[str, str]) -> None:
    d = client.get("/api/dashboard", headers=alice).json()
    assert d["daily_average_kwh"] is None
    assert d["days_left"] == "0.0"
    bad = client.get(
        "/api/dashboard", params={"from": "2025-02-01", "to": "2025-01-01"}, headers=alice
    )
    assert bad.status_code == 422


def test_a_period_gets_the_share_of_each_interval_it_overlaps(
    client: TestClient, alice: dict[str, str]
) -> None:
    day = TODAY - timedelta(days=40)
    _read_on(client, alice, day, "100")
    _read_on(client, alice, day + timedelta(days=10), "150")  # 50 kWh over 10 days
    # The interval's last day only: 1 of its 10 days, whatever lies after it.
    tail = _period(client, alice, day + timedelta(days=9), day + timedelta(days=29))
    assert (tail["consumed_kwh"], tail["period"]["days_covered"]) == ("5.000", "1.0")
    assert tail["daily_average_kwh"] == "5.000"
    # Two days inside the interval: no reading falls in them, yet the meter ran.
    inside = _period(client, alice, day, day + timedelta(days=1))
    assert (inside["consumed_kwh"], inside["period"]["days_covered"]) == ("10.000", "2.0")
    assert inside["daily_average_kwh"] == "5.000"
    # A period holding the whole interval gets all of it, and no days beyond it.
    whole = _period(client, alice, day - timedelta(days=5), day + timedelta(days=20))
    assert (whole["consumed_kwh"], whole["period"]["days_covered"]) == ("50.000", "10.0")
    # Before the first reading nothing was measured.
    before = _period(client, alice, day - timedelta(days=5), day - timedelta(days=1))
    assert (before["consumed_kwh"], before["period"]["days_covered"]) == ("0.000", "0.0")
    assert before["daily_average_kwh"] is None


def test_an_interval_ending_at_a_meter_replacement_is_not_a_day_of_zero_use(
    client: TestClient, alice: dict[str, str]
) -> None:
    day = TODAY - timedelta(days=40)
    for days, kwh in ((0, "1000"), (10, "1100"), (20, "10"), (21, "20")):
        _read_on(client, alice, day + timedelta(days=days), kwh, replacement=days == 20)
    client.post(
        "/api/vouchers",
        json={"purchased_on": day.isoformat(), "amount": "600", "kwh": "200"},
        headers=alice,
    )
    d = _period(client, alice, day, day + timedelta(days=21))
    # Days 10-20 end at the new meter's first reading: the old one's use then is unknown.
    assert (d["consumed_kwh"], d["period"]["days_covered"]) == ("110.000", "11.0")
    assert d["daily_average_kwh"] == "10.000"
    assert d["balance_kwh"] == "90.000"
    assert d["days_left"] == "9.0"  # at 10 kWh a day, not at 110 kWh over 21 days


def test_the_last_12_months_are_this_one_so_far_and_the_11_before(
    client: TestClient, alice: dict[str, str]
) -> None:
    months = [m["month"] for m in client.get("/api/dashboard", headers=alice).json()["months"]]
    back = TODAY.year * 12 + TODAY.month - 1 - 11
    assert months[0] == f"{back // 12:04d}-{back % 12 + 1:02d}"
    assert months[-1] == f"{TODAY.year:04d}-{TODAY.month:02d}"
    assert len(months) == 12
