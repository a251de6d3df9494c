"""The UI's cookie session: CSRF on every POST, renewal, role-hidden controls, error pages."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING

from fastapi import FastAPI

from meterbook.pages.cookies import REFRESH
from tests.support.mail import link_in, local_path, mailed, query_value

if TYPE_CHECKING:
    from collections.abc import Callable

    from httpx import Response
    from starlette.testclient import TestClient

    Register = Callable[..., dict[str, str]]
    Invite = Callable[..., str]

PASSWORD = "correct horse battery"


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found
    return found.group(1)


def signup_response(client: TestClient, email: str, code: str = "") -> Response:
    """Sign up through the form, then confirm from the welcome mail: the signed-in redirect."""
    token = csrf(client.get("/signup").text)
    response = client.post(
        "/signup",
        data={"email": email, "password": PASSWORD, "invite_code": code, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 200, response.text
    assert "Check your inbox" in response.text
    assert not response.headers.get_list("set-cookie") or all(
        "tenantry_access" not in c for c in response.headers.get_list("set-cookie")
    )  # not signed in before the address is confirmed
    welcome = mailed(client.app, email, "welcome")  # type: ignore[arg-type]
    link = link_in(welcome, "/verify-email")
    page = client.get(local_path(link))
    assert page.status_code == 200
    confirmed = client.post(
        "/verify-email",
        data={"token": query_value(link, "token"), "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303, confirmed.text
    return confirmed


def signup(client: TestClient, email: str, code: str = "") -> str:
    """Sign up and confirm; returns the household's URL prefix."""
    location: str = signup_response(client, email, code).headers["location"]
    return location.removesuffix("/dashboard")


def test_cookie_flags(client: TestClient) -> None:
    cookies = signup_response(client, "a@example.com").headers.get_list("set-cookie")
    assert len(cookies) == 3
    for cookie in cookies:
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Secure" not in cookie  # secure_cookies is off in tests


def test_posts_without_the_token_are_refused(client: TestClient) -> None:
    base = signup(client, "a@example.com")
    page = client.get(f"{base}/readings")
    assert page.status_code == 200
    forged = client.post(f"{base}/readings", data={"read_at": "2024-01-01T07:00", "meter_kwh": "1"})
    assert forged.status_code == 403
    assert "did not come from this site" in forged.text
    wrong = client.post(
        f"{base}/readings",
        data={"read_at": "2024-01-01T07:00", "meter_kwh": "1", "csrf_token": "0" * 64},
    )
    assert wrong.status_code == 403
    ok = client.post(
        f"{base}/readings",
        data={"read_at": "2024-01-01T07:00", "meter_kwh": "1", "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert ok.status_code == 303


def test_cookie_api_calls_need_the_csrf_header(client: TestClient) -> None:
    signup(client, "a@example.com")
    body = {"read_at": "2024-01-01T07:00:00+00:00", "meter_kwh": "1"}
    assert client.post("/api/readings", json=body).status_code == 403
    token = csrf(client.get("/signin").text)
    assert (
        client.post("/api/readings", json=body, headers={"x-csrf-token": token}).status_code == 201
    )


def test_expired_access_cookie_is_renewed(client: TestClient, app: FastAPI) -> None:
    base = signup(client, "a@example.com")
    client.cookies.delete("tenantry_access")
    old_refresh = client.cookies.get(REFRESH)
    assert client.get(f"{base}/dashboard").status_code == 200
    assert client.cookies.get(REFRESH) != old_refresh
    # A revoked session is signed out.
    client.cookies.set("tenantry_access", "garbage")
    client.cookies.set(REFRESH, "revoked")
    response = client.get(f"{base}/dashboard", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin?next=")
    assert app.state.tenancy.config.access_ttl == timedelta(minutes=15)


def test_two_tabs_renewing_at_once_both_stay_signed_in(client: TestClient) -> None:
    """Both tabs send the one refresh cookie after the access cookie expired: the second
    renewal is the same browser, not a stolen token (a stranger was signed out)."""
    base = signup(client, "a@example.com")
    refresh = client.cookies.get(REFRESH)
    assert refresh

    def tab(page: str, cookie: str) -> Response:
        client.cookies.clear()  # no access cookie: it expired
        client.cookies.set(REFRESH, cookie)
        return client.get(f"{base}/{page}", follow_redirects=False)

    tabs = [tab(page, refresh) for page in ("readings", "vouchers")]
    assert [t.status_code for t in tabs] == [200, 200]
    renewed = [t.cookies.get(REFRESH) for t in tabs]
    assert None not in renewed and len({refresh, *renewed}) == 3
    for page, cookie in zip(("readings", "vouchers"), renewed, strict=True):
        assert cookie and tab(page, cookie).status_code == 200


def test_viewer_sees_no_edit_controls_and_cannot_post(
    client: TestClient, alice: dict[str, str], invite: Invite
) -> None:
    base = signup(client, "vera@example.com", invite(alice, "viewer"))
    page = client.get(f"{base}/readings")
    assert "Add a reading" not in page.text
    assert "/delete" not in page.text
    settings = client.get(f"{base}/household").text
    assert "Generate invite code" not in settings
    assert "Export all data" not in settings
    posted = client.post(
        f"{base}/readings",
        data={"read_at": "2024-01-01T07:00", "meter_kwh": "1", "csrf_token": csrf(page.text)},
    )
    assert posted.status_code == 403
    assert "member role" in posted.text


def test_other_households_pages_are_not_found(client: TestClient, bob: dict[str, str]) -> None:
    theirs = client.post(
        "/api/readings",
        json={"read_at": "2024-01-01T07:00:00+00:00", "meter_kwh": "1"},
        headers=bob,
    ).json()["id"]
    their_slug = client.get("/api/tenant", headers=bob).json()["slug"]
    base = signup(client, "a@example.com")
    other = client.get(f"{base}/readings/{theirs}/edit")
    missing = client.get(f"{base}/readings/{theirs + 1}/edit")
    assert other.status_code == missing.status_code == 404
    assert other.text == missing.text
    assert client.get(f"/t/{their_slug}/dashboard").status_code == 404
    # A slug spelt as no household's (upper case) is the same page, not a bare route miss.
    unknown = client.get(f"/t/{their_slug.upper()}/dashboard")
    assert unknown.status_code == 404
    assert unknown.text == client.get(f"/t/{their_slug}/dashboard").text
    assert "<html" in unknown.text.lower()


def test_form_errors_are_shown_next_to_the_field(client: TestClient) -> None:
    base = signup(client, "a@example.com")
    token = csrf(client.get(f"{base}/vouchers").text)
    response = client.post(
        f"{base}/vouchers",
        data={"purchased_on": "2024-01-01", "amount": "-5", "kwh": "10", "csrf_token": token},
    )
    assert response.status_code == 422
    assert "must not be negative" in response.text
    assert 'value="-5"' in response.text


def test_a_bearer_api_client_without_cookies_gets_no_session_cookie(
    client: TestClient, bob: dict[str, str]
) -> None:
    client.cookies.clear()  # an API client: a token, no cookie jar
    response = client.get("/api/readings", headers=bob)
    assert response.status_code == 200
    assert response.headers.get_list("set-cookie") == []
    page = client.get("/signin")  # a browser's first page still starts its session
    assert any("meterbook_sid" in c for c in page.headers.get_list("set-cookie"))


def test_health_checks_and_scrapes_get_no_session_cookie(client: TestClient) -> None:
    client.cookies.clear()  # a load balancer's probe, a scraper
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).headers.get_list("set-cookie") == [], path
