"""Errors on the server's paths: pages for people, JSON for programs (the API and probes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

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
