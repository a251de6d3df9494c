"""The dashboard page: the same figures as the API, and a period problem said, not hidden."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from starlette.testclient import TestClient

TODAY = datetime.now(UTC).date()


def _shown_period(html: str) -> tuple[str, str]:
    start = re.search(r'name="start" value="([^"]*)"', html)
    end = re.search(r'name="end" value="([^"]*)"', html)
    assert start and end, "no period form on the page"
    return start.group(1), end.group(1)


def _stat(html: str, name: str) -> str:
    found = re.search(rf'id="stat-{name}">(.*?)</div>', html)
    assert found, f"no {name} figure"
    return re.sub(r"<[^>]+>", " ", found.group(1))


def test_used_in_period_is_the_apis_figure(client: TestClient, alice: dict[str, str]) -> None:
    day = TODAY - timedelta(days=40)
    for days, kwh in ((0, "100"), (10, "150")):
        at = datetime.combine(day + timedelta(days=days), time.min, tzinfo=UTC)
        answer = client.post(
            "/api/readings", json={"read_at": at.isoformat(), "meter_kwh": kwh}, headers=alice
        )
        assert answer.status_code == 201, answer.text
    first, last = day + timedelta(days=9), day + timedelta(days=29)
    api = client.get(
        "/api/dashboard", params={"from": first.isoformat(), "to": last.isoformat()}, headers=alice
    ).json()
    page = client.get(f"/dashboard?start={first}&end={last}", headers=alice).text
    used = _stat(page, "consumed")
    assert api["consumed_kwh"] in used and f"over {api['period']['days_covered']} days" in used
    assert len(re.findall(r"<tr><td>\d{4}-\d{2}</td>", page)) == len(api["months"]) == 12


def test_a_start_after_the_end_is_said_and_not_shown(
    client: TestClient, alice: dict[str, str]
) -> None:
    # The end defaults to today: a start in the future is after it.
    page = client.get("/dashboard?start=9999-01-01", headers=alice)
    assert page.status_code == 200
    assert 'id="period-inverted"' in page.text and "9999-01-01" in page.text
    shown = _shown_period(page.text)
    assert shown == ((TODAY - timedelta(days=29)).isoformat(), TODAY.isoformat())
    # Both given, the wrong way round: the end stands, and the page says why the start moved.
    later, earlier = TODAY - timedelta(days=10), TODAY - timedelta(days=20)
    page = client.get(f"/dashboard?start={later}&end={earlier}", headers=alice)
    assert 'id="period-inverted"' in page.text
    assert _shown_period(page.text) == ((earlier - timedelta(days=29)).isoformat(), str(earlier))


def test_a_period_in_order_has_no_note(client: TestClient, alice: dict[str, str]) -> None:
    page = client.get(f"/dashboard?start={TODAY}&end={TODAY}", headers=alice).text
    assert 'id="period-inverted"' not in page
    assert _shown_period(page) == (TODAY.isoformat(), TODAY.isoformat())


def test_spend_in_every_currency_is_shown(client: TestClient, alice: dict[str, str]) -> None:
    for amount, currency in (("100", "ZAR"), ("100", "ZAR"), ("20", "EUR")):
        voucher = {"purchased_on": TODAY.isoformat(), "amount": amount, "kwh": "30"}
        made = client.post("/api/vouchers", json={**voucher, "currency": currency}, headers=alice)
        assert made.status_code == 201, made.text
    page = client.get("/dashboard", headers=alice).text
    spent = " ".join(_stat(page, "spent").split())
    assert "200.00 ZAR on 2 vouchers; 20.00 EUR on 1" in spent
    months = re.search(r'<table id="months">(.*?)</table>', page, re.S)
    assert months and "200.00 + 20.00 EUR" in months.group(1)


def test_a_date_it_cannot_read_is_said(client: TestClient, alice: dict[str, str]) -> None:
    page = client.get("/dashboard?start=garbage&end=2026-13-45", headers=alice).text
    banner = re.search(r'id="period-unreadable"[^>]*>(.*?)</p>', page)
    assert banner, "the page showed the default period without a word"
    assert "'garbage' '2026-13-45' are not dates (YYYY-MM-DD)" in banner.group(1)
    assert _shown_period(page) == (str(TODAY - timedelta(days=29)), str(TODAY))
    assert 'id="period-unreadable"' not in client.get("/dashboard", headers=alice).text
    escaped = client.get("/dashboard?start=<b>x", headers=alice).text
    assert "'&lt;b&gt;x' is not a date" in escaped and "<b>x" not in escaped
