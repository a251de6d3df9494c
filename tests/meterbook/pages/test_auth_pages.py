"""Pages without a household: sign in with none left, verify, forgot and reset, accept an invite."""

from __future__ import annotations

import html
import re
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, invite_and_join, register
from tests.support.mail import link_in, local_path, mailed, outbox, query_value


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found
    return found.group(1)


def signin(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns where the browser is sent."""
    token = csrf(client.get("/signin").text)
    response = client.post(
        "/signin",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    return location


def test_a_person_in_no_household_signs_in_to_create_or_join(client: TestClient) -> None:
    alice = register(client, "alice@example.com")
    carol = invite_and_join(client, alice, "carol@example.com")
    client.delete(f"/api/tenant/members/{carol.user_id}", headers=alice.headers)
    client.cookies.clear()
    assert signin(client, carol.email) == "/households/new"
    page = client.get("/households/new")
    assert page.status_code == 200
    assert "Create or join a household" in page.text
    assert 'id="join-household"' in page.text
    # The home page sends them there too, and creating a household opens it.
    assert client.get("/", follow_redirects=False).headers["location"] == "/households/new"
    created = client.post(
        "/households/new",
        data={"name": "Carol's new place", "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert created.status_code == 303
    assert client.get(created.headers["location"]).status_code == 200


def test_sign_up_page_says_the_same_for_a_known_email(client: TestClient) -> None:
    register(client, "alice@example.com")
    client.cookies.clear()
    pages = []
    for email in ("alice@example.com", "new@example.com"):
        token = csrf(client.get("/signup").text)
        page = client.post(
            "/signup", data={"email": email, "password": PASSWORD, "csrf_token": token}
        )
        assert page.status_code == 200
        pages.append(re.sub(r'value="[0-9a-f]+"', "", page.text))  # CSRF tokens differ
    assert pages[0] == pages[1]
    assert "Check your inbox" in pages[0]


def test_opening_the_verification_link_does_not_confirm_until_the_button(
    client: TestClient,
) -> None:
    """Mail scanners open links: only the form post confirms."""
    token = csrf(client.get("/signup").text)
    client.post(
        "/signup", data={"email": "v@example.com", "password": PASSWORD, "csrf_token": token}
    )
    link = link_in(mailed(client.app, "v@example.com", "welcome"), "/verify-email")  # type: ignore[arg-type]
    page = client.get(local_path(link))
    assert "Confirm my email address" in page.text
    login = {"email": "v@example.com", "password": PASSWORD}
    assert client.post("/api/auth/login", json=login).status_code == 401
    confirmed = client.post(
        "/verify-email",
        data={"token": query_value(link, "token"), "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303
    assert client.get(confirmed.headers["location"]).status_code == 200
    fresh = client.get(local_path(link))  # signing in renewed the session id and CSRF token
    again = client.post(
        "/verify-email",
        data={"token": query_value(link, "token"), "csrf_token": csrf(fresh.text)},
    )
    assert again.status_code == 400
    assert "not valid" in again.text


def test_forgot_and_reset_pages_end_the_old_session(client: TestClient) -> None:
    register(client, "alice@example.com")
    client.cookies.clear()
    home = signin(client, "alice@example.com")
    assert client.get(home).status_code == 200
    old_cookies = dict(client.cookies)
    page = client.get("/forgot-password")
    sent = client.post(
        "/forgot-password", data={"email": "alice@example.com", "csrf_token": csrf(page.text)}
    )
    assert "If an account uses this address" in sent.text
    link = link_in(mailed(client.app, "alice@example.com", "password_reset"), "/reset-password")  # type: ignore[arg-type]
    form = client.get(local_path(link))
    done = client.post(
        "/reset-password",
        data={
            "token": query_value(link, "token"),
            "password": "my new password",
            "csrf_token": csrf(form.text),
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/signin?msg=reset"
    # The old session's cookies no longer open anything.
    client.cookies.clear()
    for name, value in old_cookies.items():
        client.cookies.set(name, value)
    stale = client.get(home, follow_redirects=False)
    assert stale.status_code == 303
    # ... and the way back keeps the household prefix.
    assert stale.headers["location"] == f"/signin?next={quote(home)}"
    client.cookies.clear()
    assert signin(client, "alice@example.com", "my new password") == home


def test_an_invite_link_shows_the_household_then_joins(client: TestClient) -> None:
    alice = register(client, "alice@example.com", tenant_name="Alice's flat")
    bob = register(client, "bob@example.com")
    code = client.post("/api/tenant/invites", json={}, headers=alice.headers).json()["code"]
    client.cookies.clear()
    anonymous = client.get(f"/invite?code={code}")
    assert "Alice&#39;s flat" in anonymous.text
    assert re.search(
        r'id="invite-expires">The invitation is valid until \d{4}-\d\d-\d\d', anonymous.text
    )
    assert 'id="invite-signup"' in anonymous.text
    assert 'id="invite-signin"' in anonymous.text
    # Bob signs in from the link and comes back to it.
    token = csrf(client.get("/signin").text)
    back = client.post(
        "/signin",
        data={
            "email": bob.email,
            "password": PASSWORD,
            "next": f"/invite?code={code}",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert back.headers["location"] == f"/invite?code={code}"
    page = client.get(back.headers["location"])
    assert 'id="accept-invite"' in page.text
    joined = client.post(
        "/join", data={"code": code, "csrf_token": csrf(page.text)}, follow_redirects=False
    )
    assert joined.status_code == 303
    assert "Alice" in client.get(joined.headers["location"]).text
    assert client.get("/invite?code=NOPE-NOPE").status_code == 400


def test_the_sign_in_pages_back_off_says_when_to_retry(client: TestClient) -> None:
    """After failed sign-ins the page answers 429 as the API does, with Retry-After."""
    alice = register(client, "alice@example.com")
    answers = []
    for _ in range(7):
        token = csrf(client.get("/signin").text)
        answers.append(
            client.post(
                "/signin",
                data={"email": alice.email, "password": "not it", "csrf_token": token},
                follow_redirects=False,
            )
        )
    refused = answers[-1]
    assert refused.status_code == 429, [a.status_code for a in answers]
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["content-type"].startswith("text/html")
    # The sign-in form again, what was typed kept, the wait said.
    assert 'value="alice@example.com"' in refused.text
    assert "try again" in refused.text


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("password", "p" * 1500, "the password has at most 1024 characters"),
        ("display_name", "n" * 300, "a display name has at most 200 characters"),
        ("display_name", "\u202egnp.exe", "must not hold characters that reorder text"),
        ("tenant_name", "h" * 300, "a name has at most 200 characters"),
        ("tenant_name", "\u200b", "must have a visible character"),
    ],
)
def test_sign_up_refuses_what_the_api_refuses_instead_of_cutting_it(
    client: TestClient, field: str, value: str, says: str
) -> None:
    """The form stored the first 1,024 characters of a longer password (and cut names)
    where the API answers 422: the same input gets the same refusal either way."""
    form = {"email": "long@example.com", "password": "a good passphrase", field: value}
    page = client.post("/signup", data={**form, "csrf_token": csrf(client.get("/signup").text)})
    assert page.status_code == 422
    assert says in html.unescape(page.text)
    api = client.post("/api/auth/register", json=form)
    assert api.status_code == 422 and api.json()["error"]["details"]["field"] == field
    assert outbox(client.app) == []  # nothing was made: no welcome mail
