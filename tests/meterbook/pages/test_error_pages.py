"""Errors on the server's paths: pages for people, JSON for programs (the API and probes)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from starlette.testclient import TestClient

from tests.conftest import invite_and_join, register


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/healthz", 405, "method_not_allowed"),
        ("/readyz", 405, "method_not_allowed"),
        ("/metrics", 404, "not_found"),  # hidden: a 405 would tell it is there
    ],
)
def test_a_probe_answers_its_errors_in_json(
    client: TestClient, path: str, status: int, code: str
) -> None:
    answer = client.post(path, headers={"Accept": "application/json"})
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code


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


@pytest.mark.parametrize(
    ("prefix", "code"),
    [
        ("/t/No-Such-Home", "tenant_not_found"),
        ("/t/no_such_home", "tenant_not_found"),
        ("/t/no-such-home", "tenant_not_found"),
        ("/t/", "not_found"),  # no slug: no prefix, a path no route has
    ],
)
def test_the_api_under_an_unknown_household_prefix_answers_json(
    client: TestClient, alice: dict[str, str], prefix: str, code: str
) -> None:
    """A slug spelt as no household's is an unknown household, as a well-formed one is."""
    answer = client.get(f"{prefix}/api/readings", headers={"Accept": "application/json", **alice})
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == code


def test_a_body_over_the_limit_is_a_page_on_pages_and_json_on_the_api(
    client: TestClient, alice: dict[str, str], household_plan: None
) -> None:
    slug = client.get("/api/tenant", headers=alice).json()["slug"]
    big = [("file", ("readings.csv", b"read_at,meter_kwh\n" + b"x" * (1 << 20), "text/csv"))]
    page = client.post(f"/t/{slug}/readings/import", files=big, headers=alice)
    assert page.status_code == 413
    assert page.headers["content-type"].startswith("text/html")
    assert "larger than 1 MiB" in page.text and "Too large" in page.text
    assert "payload_too_large" not in page.text
    api = client.post("/api/readings/import", files=big, headers=alice)
    assert api.status_code == 413
    assert api.json()["error"]["code"] == "payload_too_large"
    assert api.json()["error"]["message"] == "request body is larger than 1048576 bytes"


def test_a_streamed_body_over_the_limit_is_a_page_too(
    client: TestClient, alice: dict[str, str]
) -> None:
    slug = client.get("/api/tenant", headers=alice).json()["slug"]

    def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b"x" * 65536

    form = {**alice, "Content-Type": "application/x-www-form-urlencoded"}
    # The page, told the client left, fails reading its form after the 413 went out.
    with TestClient(client.app, raise_server_exceptions=False) as browser:
        page = browser.post(f"/t/{slug}/readings", content=chunks(), headers=form)
    assert page.status_code == 413
    assert page.headers["content-type"].startswith("text/html")
    assert "larger than 1 MiB" in page.text


def test_a_removed_member_s_next_page_says_so_in_a_household_s_words(client: TestClient) -> None:
    """Removed with a token still valid: the household's pages answer 404 on the next
    request, in words a person understands, and the very page a stranger guessing the
    household's address gets (the page must not tell one household exists)."""
    owner = register(client, "owner@example.com", tenant_name="Kitchen table")
    member = invite_and_join(client, owner, "member@example.com")
    slug = client.get("/api/tenant", headers=owner.headers).json()["slug"]
    client.cookies.set("tenantry_access", member.access)
    assert client.get(f"/t/{slug}/dashboard").status_code == 200
    removed = client.delete(f"/api/tenant/members/{member.user_id}", headers=owner.headers)
    assert removed.status_code == 204
    gone = client.get(f"/t/{slug}/dashboard")
    guessed = client.get("/t/no-such-household/dashboard")
    assert gone.status_code == guessed.status_code == 404
    assert "tenant" not in gone.text.lower()
    assert "not one of your households" in gone.text
    assert gone.text.replace(slug, "") == guessed.text.replace("no-such-household", "")


def test_a_deleted_household_s_pages_say_an_owner_can_restore_it(client: TestClient) -> None:
    owner = register(client, "owner@example.com", tenant_name="Kitchen table")
    slug = client.get("/api/tenant", headers=owner.headers).json()["slug"]
    deleted = client.delete(f"/api/tenant?confirm={slug}", headers=owner.headers)
    assert deleted.status_code == 204
    client.cookies.set("tenantry_access", owner.access)
    page = client.get(f"/t/{slug}/readings")
    assert page.status_code == 404
    assert "This household was deleted" in page.text and "restore" in page.text
