"""A page's CSV import says what the API says of a bad file, next to the import form."""

from __future__ import annotations

import html
from typing import Any

import pytest
from fastapi.testclient import TestClient

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"


def _page_import(
    client: TestClient, member: dict[str, str], files: Any = None, **extra: Any
) -> Any:
    slug = client.get("/api/tenant", headers=member).json()["slug"]
    return client.post(
        f"/t/{slug}/readings/import", files=files, headers=member, follow_redirects=False, **extra
    )


def _api_import(client: TestClient, member: dict[str, str], files: Any = None, **extra: Any) -> Any:
    return client.post("/api/readings/import", files=files, headers=member, **extra)


def _file(raw: bytes, name: str = "readings.csv") -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("file", (name, raw, "text/csv"))]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (_file(PNG, "photo.csv"), "the file must be UTF-8 text"),
        (_file(b"\xff\xfe\x00r\x00e\x00a\x00d"), "the file must be UTF-8 text"),
        (_file(b""), "the file is empty"),
        (
            _file(b"read_at;meter_kwh\n2025-01-01T07:00;1\n"),
            "separate the columns with commas, not semicolons",
        ),
        (_file(b"read_at,meter_kwh\n") + _file(b"read_at,meter_kwh\n"), "send one file at a time"),
        # A header the csv module cannot read was a 500 ("Something went wrong").
        (_file(b'"read_at"x,meter_kwh\n2025-01-01T07:00,1\n'), "inside a value: put the whole"),
        (_file(b'read_at,"meter_kwh\n2025-01-01T07:00,1\n'), "never closed"),
    ],
)
def test_a_bad_file_is_named_as_such_on_the_page_and_by_the_api(
    client: TestClient, alice: dict[str, str], household_plan: None, files: Any, message: str
) -> None:
    api = _api_import(client, alice, files)
    assert api.status_code == 422, api.text
    assert message in api.json()["error"]["message"]
    page = _page_import(client, alice, files)
    assert page.status_code == 422, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert html.escape(message) in page.text
    assert "missing column" not in page.text and "not-utf8" not in page.text
    assert 'id="import-readings"' in page.text  # the list page, the message by its form
    assert client.get("/api/readings", headers=alice).json()["total"] == 0


def test_a_form_without_a_file_part_says_so(
    client: TestClient, alice: dict[str, str], household_plan: None
) -> None:
    message = "no file was sent: send the CSV as the form&#39;s file field"
    form = {"data": {"note": "no file"}, "files": [("other", ("x.csv", b"a", "text/csv"))]}
    api = _api_import(client, alice, **form)
    assert api.status_code == 422 and api.json()["error"]["message"] == html.unescape(message)
    page = _page_import(client, alice, **form)
    assert page.status_code == 422 and message in page.text


def test_a_good_file_is_imported_from_the_page(
    client: TestClient, alice: dict[str, str], household_plan: None
) -> None:
    page = _page_import(client, alice, _file(b"read_at,meter_kwh\n2025-01-01T07:00:00Z,1\n"))
    assert page.status_code == 303, page.text
    assert page.headers["location"].endswith("/readings?msg=imported")
    bad = _page_import(client, alice, _file(b"read_at,meter_kwh\n2025-01-02T07:00:00Z,x\n"))
    assert bad.status_code == 422
    assert "Line 2, meter_kwh: use a decimal such as 1234.567" in bad.text
