"""Pages without a household: sign in with none left, verify, forgot and reset, accept an invite."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, invite_and_join, register


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
