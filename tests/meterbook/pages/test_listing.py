"""The list pages' date filters are checked as the API's are: a bad one is a clear 422 on
the list page itself, its filters kept and no rows shown as if nothing was asked."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

READING = {"read_at": "2025-01-15T06:00:00Z", "meter_kwh": "12.5", "note": "the-one-row"}
VOUCHER = {"purchased_on": "2025-01-15", "amount": "100", "kwh": "50", "vendor": "the-one-row"}


@pytest.mark.parametrize("kind", ["readings", "vouchers"])
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"end": "9999-12-31"}, "To: use a date between 1900-01-01 and 9998-12-31"),
        ({"start": "0001-01-01"}, "From: use a date between 1900-01-01 and 9998-12-31"),
        ({"start": "garbage"}, "From: use a date such as 2025-03-01"),
        ({"start": "2025-02-01", "end": "2025-01-01"}, "From must not be after To."),
    ],
)
def test_a_bad_date_filter_is_said_on_the_list_page(
    client: TestClient, alice: dict[str, str], kind: str, params: dict[str, str], message: str
) -> None:
    row = READING if kind == "readings" else VOUCHER
    assert client.post(f"/api/{kind}", json=row, headers=alice).status_code == 201
    slug = client.get("/api/tenant", headers=alice).json()["slug"]
    page = client.get(f"/t/{slug}/{kind}", params=params, headers=alice)
    assert page.status_code == 422
    assert f'id="filter-error">{message}</p>' in page.text
    assert "the-one-row" not in page.text  # not the whole list as if no filter was asked
    for value in params.values():
        assert f'value="{value}"' in page.text  # the filters as typed, to correct them
    assert "cannot be stored" not in page.text
    fine = client.get(f"/t/{slug}/{kind}", params={"start": "2025-01-01"}, headers=alice)
    assert fine.status_code == 200 and "the-one-row" in fine.text


@pytest.mark.parametrize("kind", ["readings", "vouchers"])
@pytest.mark.parametrize("number", ["-5", "0", "99999999999999999999"])
def test_any_page_number_is_a_page(
    client: TestClient, alice: dict[str, str], kind: str, number: str
) -> None:
    """Below 1 is the first page; past the end (even past what SQL can count) an empty one."""
    row = READING if kind == "readings" else VOUCHER
    assert client.post(f"/api/{kind}", json=row, headers=alice).status_code == 201
    slug = client.get("/api/tenant", headers=alice).json()["slug"]
    page = client.get(f"/t/{slug}/{kind}", params={"page": number}, headers=alice)
    assert page.status_code == 200
    assert ("the-one-row" in page.text) == (int(number) < 1)
