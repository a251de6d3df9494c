"""The reading and voucher forms accept exactly what the API does, and say why they refuse."""

from __future__ import annotations

import html
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient


def _base(client: TestClient, member: dict[str, str]) -> str:
    return f"/t/{client.get('/api/tenant', headers=member).json()['slug']}"


def _post(client: TestClient, member: dict[str, str], path: str, data: dict[str, str]) -> Any:
    # A bearer header needs no CSRF token (it is no ambient credential).
    return client.post(
        _base(client, member) + path, data=data, headers=member, follow_redirects=False
    )


def _reading(**extra: str) -> dict[str, str]:
    return {"read_at": "2024-01-01T07:00", "meter_kwh": "650", **extra}


def _voucher(**extra: str) -> dict[str, str]:
    return {"purchased_on": date.today().isoformat(), "amount": "10", "kwh": "5", **extra}


def _field_error(page: Any, message: str) -> None:
    assert page.status_code == 422, page.text
    assert f'<span class="field-error">{html.escape(message)}' in page.text, page.text


@pytest.mark.parametrize(
    "number", ["1e5", "\uff16\uff15\uff10", "1_000", "1,5,0", "1.5,0", "16 9 50", "48213 4"]
)
def test_the_reading_form_refuses_the_numbers_the_api_refuses(
    client: TestClient, alice: dict[str, str], number: str
) -> None:
    api = client.post(
        "/api/readings",
        json={"read_at": "2024-01-01T07:00:00Z", "meter_kwh": number},
        headers=alice,
    )
    assert api.status_code == 422
    assert "use a decimal such as 1234.567" in api.json()["error"]["message"]
    _field_error(
        _post(client, alice, "/readings", _reading(meter_kwh=number)),
        "use a decimal such as 1234.567",
    )
    assert client.get("/api/readings", headers=alice).json()["total"] == 0


@pytest.mark.parametrize(
    ("field", "number"), [("amount", "1e3"), ("amount", "\uff11\uff10"), ("kwh", "5e1")]
)
def test_the_voucher_form_refuses_the_numbers_the_api_refuses(
    client: TestClient, alice: dict[str, str], field: str, number: str
) -> None:
    page = _post(client, alice, "/vouchers", _voucher(**{field: number}))
    example = "150.00" if field == "amount" else "1234.567"
    _field_error(page, f"use a decimal such as {example}")
    assert client.get("/api/vouchers", headers=alice).json()["total"] == 0


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("tab\there bell\x07", "control characters are not allowed"),
        ("nul\x00", "control characters are not allowed"),
        ("x" * 2001, "has at most 2000 characters"),
    ],
)
def test_a_refused_note_says_why_next_to_it(
    client: TestClient, alice: dict[str, str], note: str, message: str
) -> None:
    _field_error(_post(client, alice, "/readings", _reading(note=note)), message)
    assert client.get("/api/readings", headers=alice).json()["total"] == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("vendor", "v" * 121, "has at most 120 characters"),
        ("notes", "bell\x07", "control characters are not allowed"),
    ],
)
def test_a_refused_voucher_field_says_why_next_to_it(
    client: TestClient, alice: dict[str, str], field: str, value: str, message: str
) -> None:
    _field_error(_post(client, alice, "/vouchers", _voucher(**{field: value})), message)


def test_the_edit_form_refuses_as_the_add_form(client: TestClient, alice: dict[str, str]) -> None:
    made = client.post(
        "/api/readings", json={"read_at": "2024-01-01T07:00:00Z", "meter_kwh": "650"}, headers=alice
    ).json()
    page = _post(
        client, alice, f"/readings/{made['id']}", _reading(meter_kwh="1e5", note="x" * 2001)
    )
    _field_error(page, "use a decimal such as 1234.567")
    _field_error(page, "has at most 2000 characters")
    assert client.get(f"/api/readings/{made['id']}", headers=alice).json()["meter_kwh"] == "650.000"


def test_a_service_refusal_is_shown_next_to_its_field(
    client: TestClient, alice: dict[str, str]
) -> None:
    assert _post(client, alice, "/readings", _reading()).status_code == 303
    _field_error(
        _post(client, alice, "/readings", _reading(read_at="2024-01-02T07:00", meter_kwh="600")),
        "lower than the previous",
    )


def test_a_good_form_is_stored_as_typed(client: TestClient, alice: dict[str, str]) -> None:
    """A local time, a ticked checkbox and empty optional inputs mean what they do in a form."""
    added = _post(client, alice, "/readings", _reading(is_replacement="on", note=""))
    assert added.status_code == 303, added.text
    (reading,) = client.get("/api/readings", headers=alice).json()["items"]
    assert reading["meter_kwh"] == "650.000" and reading["is_replacement"] is True
    bought = _post(client, alice, "/vouchers", _voucher(currency="", vendor="", amount="10.50"))
    assert bought.status_code == 303, bought.text
    (voucher,) = client.get("/api/vouchers", headers=alice).json()["items"]
    assert voucher["currency"] == "ZAR" and voucher["amount"] == "10.50"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("48 213,4", "48213.400"), (" 650,125 ", "650.125"), ("7\u202f000", "7000.000")],
)
def test_a_number_typed_with_a_decimal_comma_or_spaces_is_read_as_a_csv_import_reads_it(
    client: TestClient, alice: dict[str, str], typed: str, stored: str
) -> None:
    """A phone set to a comma locale types ``,`` in a decimal input: the form refused what
    the same person's CSV file had imported (the JSON API still wants plain numbers)."""
    api = client.post(
        "/api/readings", json={"read_at": "2024-01-01T07:00:00Z", "meter_kwh": typed}, headers=alice
    )
    assert api.status_code == 422
    assert _post(client, alice, "/readings", _reading(meter_kwh=typed)).status_code == 303
    (reading,) = client.get("/api/readings", headers=alice).json()["items"]
    assert reading["meter_kwh"] == stored
    bought = _post(client, alice, "/vouchers", _voucher(amount="1 050,25", kwh="172,5"))
    assert bought.status_code == 303, bought.text
    (voucher,) = client.get("/api/vouchers", headers=alice).json()["items"]
    assert (voucher["amount"], voucher["kwh"]) == ("1050.25", "172.500")


def test_refused_household_forms_keep_what_was_typed(
    client: TestClient, alice: dict[str, str]
) -> None:
    """A stranger's bad email, or a name one character too long, came back blank."""
    invite = _post(
        client,
        alice,
        "/household/invites",
        {"role": "viewer", "expires_in_hours": "24", "max_uses": "3", "email": "not-an-email"},
    )
    assert invite.status_code == 422, invite.text
    assert 'value="not-an-email"' in invite.text
    assert 'value="3"' in invite.text
    assert '<option value="viewer" selected>' in invite.text
    assert '<option value="24" selected>' in invite.text
    long_name = "N" * 201
    renamed = _post(client, alice, "/household/rename", {"name": long_name})
    assert renamed.status_code == 422, renamed.text
    assert f'value="{long_name}"' in renamed.text


@pytest.mark.parametrize(
    ("path", "data", "field"),
    [
        ("/readings", _reading(read_at=""), "read_at"),
        ("/readings", _reading(meter_kwh=""), "meter_kwh"),
        ("/vouchers", _voucher(purchased_on=""), "purchased_on"),
        ("/vouchers", _voucher(amount=""), "amount"),
    ],
)
def test_an_empty_required_field_says_fill_this_in(
    client: TestClient, alice: dict[str, str], path: str, data: dict[str, str], field: str
) -> None:
    """Not the parser's "Input should be a valid datetime or date, input is too short"."""
    _field_error(_post(client, alice, path, data), "fill this in")


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("10000000000000", "is too large (at most 9999999999.999)"),
        ("650.1234", "use at most 3 decimal places"),
    ],
)
def test_a_plain_number_out_of_bounds_is_said_as_for_a_json_number(
    client: TestClient, alice: dict[str, str], typed: str, said: str
) -> None:
    """The form said "use a decimal such as 1234.567" for a number that was one, too large."""
    for value in (typed, float(typed)):
        api = client.post(
            "/api/readings",
            json={"read_at": "2024-01-01T07:00:00Z", "meter_kwh": value},
            headers=alice,
        )
        assert api.status_code == 422
        assert api.json()["error"]["message"] == f"meter_kwh: {said}"
    _field_error(_post(client, alice, "/readings", _reading(meter_kwh=typed)), said)
