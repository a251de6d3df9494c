"""Errors on the server's paths: pages for people, JSON for programs (the API and probes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy.exc import IntegrityError

if TYPE_CHECKING:
    from starlette.testclient import TestClient


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_a_probe_answers_its_errors_in_json(client: TestClient, path: str) -> None:
    answer = client.post(path, headers={"Accept": "application/json"})
    assert answer.status_code == 405
    assert answer.json()["error"]["code"] == "method_not_allowed"


def test_a_page_answers_its_errors_as_a_page(client: TestClient) -> None:
    answer = client.post("/dashboard")
    assert answer.status_code == 405
    assert answer.headers["content-type"].startswith("text/html")


def test_a_page_shows_the_core_s_status_and_words_for_any_failure(client: TestClient) -> None:
    """A constraint's refusal (no page of its own) is the API's 409 and its message, as a page."""

    def refused() -> None:
        raise IntegrityError("INSERT INTO x", {}, Exception("UNIQUE constraint failed"))

    for path in ("/refused-here", "/api/refused-here"):
        client.app.add_api_route(path, refused)  # type: ignore[attr-defined]
    page = client.get("/refused-here")
    assert page.status_code == 409
    assert page.headers["content-type"].startswith("text/html")
    assert "a row it refers to does not exist here" in page.text
    api = client.get("/api/refused-here")
    assert api.status_code == 409
    assert api.json()["error"]["code"] == "conflict"


@pytest.mark.parametrize("prefix", ["/t/No-Such-Home", "/t/no_such_home", "/t/"])
def test_the_api_under_an_unknown_household_prefix_answers_json(
    client: TestClient, prefix: str
) -> None:
    answer = client.get(f"{prefix}/api/readings", headers={"Accept": "application/json"})
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
