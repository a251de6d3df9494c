"""The account page and the household's delete button, through the forms (cookies, CSRF)."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.meterbook.pages.test_web_session import PASSWORD, csrf, signup


def _slug_name(client: TestClient, base: str) -> str:
    name = re.search(
        r'name="name" required maxlength="200" value="([^"]+)"',
        client.get(f"{base}/household").text,
    )
    assert name
    return name.group(1).replace("&#39;", "'")


def test_delete_needs_the_typed_name_then_restores_from_the_account_page(
    client: TestClient,
) -> None:
    base = signup(client, "lena@example.com")
    name = _slug_name(client, base)
    page = client.get(f"{base}/household").text
    assert 'id="delete"' in page
    wrong = client.post(
        f"{base}/household/delete", data={"confirm": "not it", "csrf_token": csrf(page)}
    )
    assert wrong.status_code == 422 and "type its name exactly" in wrong.text
    done = client.post(
        f"{base}/household/delete",
        data={"confirm": name, "csrf_token": csrf(page)},
        follow_redirects=False,
    )
    assert (done.status_code, done.headers["location"]) == (303, "/account?msg=deleted")
    assert client.get(f"{base}/dashboard").status_code == 404
    account = client.get("/account?msg=deleted")
    assert (
        "The household was deleted" in account.text and name.replace("'", "&#39;") in account.text
    )
    action = re.search(r'action="(/account/households/[0-9a-f-]+/restore)"', account.text)
    assert action
    restored = client.post(
        action.group(1), data={"csrf_token": csrf(account.text)}, follow_redirects=False
    )
    assert restored.status_code == 303 and restored.headers["location"] == f"{base}/dashboard"
    assert client.get(f"{base}/dashboard").status_code == 200


def test_only_owners_see_and_use_the_delete_button(client: TestClient) -> None:
    base = signup(client, "olga@example.com")
    owner_cookies = dict(client.cookies)
    page = client.get(f"{base}/household").text
    token = csrf(page)
    created = client.post(
        f"{base}/household/invites",
        data={"role": "admin", "expires_in_hours": "24", "max_uses": "1", "csrf_token": token},
    )
    code = re.search(r'id="invite-code">([A-Z2-7-]+)<', created.text)
    assert code
    client.cookies.clear()
    signup(client, "adam@example.com", code.group(1))
    page = client.get(f"{base}/household").text
    assert 'id="delete"' not in page
    refused = client.post(
        f"{base}/household/delete", data={"confirm": "x", "csrf_token": csrf(page)}
    )
    assert refused.status_code == 403
    client.cookies.clear()
    client.cookies.update(owner_cookies)
    assert client.get(f"{base}/dashboard").status_code == 200


def test_my_data_download_and_erasure(client: TestClient) -> None:
    signup(client, "mia@example.com")
    page = client.get("/account")
    assert page.status_code == 200 and "mia@example.com" in page.text
    download = client.get("/account/export")
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.json()["profile"]["email"] == "mia@example.com"
    token = csrf(page.text)
    unconfirmed = client.post(
        "/account/erase", data={"confirm": "x@y.z", "password": PASSWORD, "csrf_token": token}
    )
    assert unconfirmed.status_code == 422
    assert 'value="x@y.z"' in unconfirmed.text  # what was typed, shown again
    wrong = client.post(
        "/account/erase",
        data={"confirm": "mia@example.com", "password": "nope", "csrf_token": token},
    )
    assert wrong.status_code == 403 and "wrong password" in wrong.text
    assert 'value="mia@example.com"' in wrong.text and 'value="nope"' not in wrong.text
    erased = client.post(
        "/account/erase",
        data={"confirm": "MIA@example.com", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert (erased.status_code, erased.headers["location"]) == (303, "/signin")
    login = client.post(
        "/signin", data={"email": "mia@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert login.status_code == 401


def test_household_forms_answer_pages_for_what_the_api_refuses(client: TestClient) -> None:
    """A 500-character name was cut to 200 and 'renamed'; an expiry past any date answered
    the page's form with the API's JSON error."""
    base = signup(client, "rita@example.com")
    page = client.get(f"{base}/household").text
    long_name = client.post(
        f"{base}/household/rename", data={"name": "n" * 500, "csrf_token": csrf(page)}
    )
    assert long_name.status_code == 422 and "at most 200 characters" in long_name.text
    assert long_name.headers["content-type"].startswith("text/html")
    far = client.post(
        f"{base}/household/invites",
        data={"expires_in_hours": "99999999999", "max_uses": "1", "csrf_token": csrf(page)},
    )
    assert far.status_code == 422 and far.headers["content-type"].startswith("text/html")
    assert "check the invite" in far.text


def test_a_password_change_keeps_this_browser_signed_in(client: TestClient) -> None:
    signup(client, "pia@example.com")
    page = client.get("/account")
    token = csrf(page.text)
    wrong = client.post(
        "/account/password",
        data={"current_password": "nope", "new_password": "x" * 12, "csrf_token": token},
    )
    assert wrong.status_code == 403 and "wrong password" in wrong.text
    changed = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a new passphrase",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert (changed.status_code, changed.headers["location"]) == (303, "/account?msg=password")
    after = client.get(changed.headers["location"])  # still signed in, with new cookies
    assert after.status_code == 200 and "Your password was changed" in after.text
    other = TestClient(client.app)  # another browser: the old password is refused
    old = other.post("/api/auth/login", json={"email": "pia@example.com", "password": PASSWORD})
    assert old.status_code == 401


def test_a_sole_owner_is_told_how_to_leave_and_a_full_household_says_so(
    client: TestClient,
) -> None:
    base = signup(client, "olu@example.com")
    page = client.get(f"{base}/household").text
    assert 'id="sole-owner"' in page and "Leave this household" not in page
    bound = client.post(
        f"{base}/household/invites",
        data={"role": "member", "email": "Ngozi@Example.NG", "csrf_token": csrf(page)},
    )
    assert bound.status_code == 200, bound.text
    listed = client.get(f"{base}/household").text  # whom each open invite is for
    assert "<td>ngozi@example.ng</td>" in listed and "anyone with the code" not in listed
    revoke = re.search(r'action="([^"]+/revoke)"', listed)
    assert revoke
    client.post(revoke.group(1), data={"csrf_token": csrf(listed)})
    refused = client.post(f"{base}/household/leave", data={"csrf_token": csrf(page)})
    assert refused.status_code == 409 and "only owner" in refused.text
    codes = []
    for _ in range(2):  # the Free plan: 2 members
        created = client.post(
            f"{base}/household/invites",
            data={
                "role": "member",
                "expires_in_hours": "24",
                "max_uses": "1",
                "csrf_token": csrf(page),
            },
        )
        found = re.search(r'id="invite-code">([A-Z2-7-]+)<', created.text)
        assert found
        codes.append(found.group(1))
    client.cookies.clear()
    signup(client, "pat@example.com", codes[0])
    client.cookies.clear()
    signup(client, "quin@example.com")
    join = client.get(f"/invite?code={codes[1]}")
    full = client.post("/join", data={"code": codes[1], "csrf_token": csrf(join.text)})
    assert full.status_code == 402
    assert "This household is full" in full.text and "tenant" not in full.text
    # Signing up with the code shows the form again with what was typed (a bare 402
    # page lost it), and says how to go on without the invitation.
    client.cookies.clear()
    form = client.get(f"/signup?code={codes[1]}")
    typed = {"email": "ravi@example.com", "display_name": "Ravi Subramanian"}
    refused = client.post(
        "/signup",
        data={
            **typed,
            "password": PASSWORD,
            "invite_code": codes[1],
            "csrf_token": csrf(form.text),
        },
    )
    assert refused.status_code == 402
    assert (
        "This household is full" in refused.text and "leave the invite code empty" in refused.text
    )
    assert 'value="ravi@example.com"' in refused.text and "Ravi Subramanian" in refused.text


def test_sign_out_everywhere_ends_this_browser_and_every_other(client: TestClient) -> None:
    base = signup(client, "ruth@example.com")
    other = TestClient(client.app)  # another device, signed in through the API
    pair = other.post("/api/auth/login", json={"email": "ruth@example.com", "password": PASSWORD})
    bearer = {"Authorization": f"Bearer {pair.json()['access_token']}"}
    assert other.get("/api/tenant", headers=bearer).status_code == 200
    page = client.get("/account")
    assert 'action="/account/signout-everywhere"' in page.text
    done = client.post(
        "/account/signout-everywhere", data={"csrf_token": csrf(page.text)}, follow_redirects=False
    )
    assert (done.status_code, done.headers["location"]) == (303, "/signin?msg=everywhere")
    assert "signed out on every device" in client.get(done.headers["location"]).text
    assert other.get("/api/tenant", headers=bearer).status_code == 401
    spent = {"refresh_token": pair.json()["refresh_token"]}
    refreshed = other.post("/api/auth/refresh", json=spent)
    assert refreshed.status_code == 401
    again = client.get(f"{base}/dashboard", follow_redirects=False)  # this browser too
    assert again.status_code == 303 and again.headers["location"].startswith("/signin")


def test_a_form_sent_after_signing_out_goes_to_sign_in_saying_it_was_not_saved(
    client: TestClient,
) -> None:
    """A form left open in another tab answered "Something went wrong — Error 401"."""
    base = signup(client, "sam@example.com")
    page = client.get(f"{base}/readings")
    token = csrf(page.text)
    everywhere = client.get("/account")
    client.post("/account/signout-everywhere", data={"csrf_token": csrf(everywhere.text)})
    sent = client.post(
        f"{base}/readings",
        data={"read_at": "2024-01-01T07:00", "meter_kwh": "650", "csrf_token": token},
        headers={"referer": f"http://testserver{base}/readings"},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"] == f"/signin?msg=unsent&next={base}/readings"
    assert "was not saved" in client.get(sent.headers["location"]).text
    foreign = client.post(
        f"{base}/readings",
        data={"csrf_token": token},
        headers={"referer": "https://elsewhere.example/x"},
        follow_redirects=False,
    )
    assert foreign.headers["location"] == "/signin?msg=unsent"  # never a way off the site
