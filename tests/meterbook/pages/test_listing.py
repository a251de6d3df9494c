"""The list pages' date filters are checked as the API's are: out of range is a clear 422."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("kind", ["readings", "vouchers"])
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"end": "9999-12-31"}, "to: use a date between 1900-01-01 and 9998-12-31"),
        ({"start": "0001-01-01"}, "from: use a date between 1900-01-01 and 9998-12-31"),
        ({"start": "2025-02-01", "end": "2025-01-01"}, "from: must not be after to"),
    ],
)
def test_a_date_filter_out_of_range_says_so(
    client: TestClient, alice: dict[str, str], kind: str, params: dict[str, str], message: str
) -> None:
    slug = client.get("/api/tenant", headers=alice).json()["slug"]
    page = client.get(f"/t/{slug}/{kind}", params=params, headers=alice)
    assert page.status_code == 422
    assert message in page.text
    assert "cannot be stored" not in page.text
