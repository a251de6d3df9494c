"""Per-account login throttling next to the per-IP limit: back-off, and no lock-out of the owner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, Member

WRONG = "not the password"


def _login(client: TestClient, email: str, password: str) -> int:
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    return response.status_code


def _wrong_from_new_places(app: FastAPI, email: str, count: int) -> list[int]:
    """One wrong password from each of ``count`` addresses the account never used."""
    answers = []
    for n in range(count):
        with TestClient(app, client=(f"198.51.100.{n + 1}", 40000)) as bot:
            answers.append(_login(bot, email, WRONG))
    return answers


@pytest.fixture
def other_place(app: FastAPI) -> Iterator[TestClient]:
    """A client from another IP address (the attacker's, or the owner's phone)."""
    with TestClient(app, client=("203.0.113.9", 50000)) as test_client:
        yield test_client


def test_failures_for_one_account_back_off_from_that_address(
    client: TestClient, alice: Member
) -> None:
    # Five free failures, then the sixth starts a back-off that refuses even the right password.
    assert [_login(client, alice.email, WRONG) for _ in range(6)] == [401] * 6
    refused = client.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "this account" in refused.json()["error"]["message"]


def test_an_unknown_email_backs_off_exactly_like_a_known_one(
    client: TestClient, other_place: TestClient, alice: Member
) -> None:
    known = [_login(client, alice.email, WRONG) for _ in range(7)]
    unknown = [_login(other_place, "nobody@example.com", WRONG) for _ in range(7)]
    assert known == unknown == [401] * 6 + [429]


def test_an_attacker_elsewhere_does_not_slow_the_owner_down(
    client: TestClient, other_place: TestClient, alice: Member
) -> None:
    # The owner has signed in from here before (the fixture's registration verified and
    # signed in; a sign-in marks the address as known).
    assert _login(client, alice.email, PASSWORD) == 200
    attacker = [_login(other_place, alice.email, WRONG) for _ in range(7)]
    assert attacker[-1] == 429  # the attacker is slowed down ...
    assert _login(client, alice.email, PASSWORD) == 200  # ... the owner is not


def test_many_addresses_guessing_one_account_meet_the_per_account_limit(
    app: FastAPI, client: TestClient, alice: Member
) -> None:
    """The looser per-account limit (30 failures an hour, from addresses not known)."""
    assert _login(client, alice.email, PASSWORD) == 200  # the owner's known address
    answers = _wrong_from_new_places(app, alice.email, 31)
    assert answers[:30] == [401] * 30
    assert answers[30] == 429
    with TestClient(app, client=("198.51.100.200", 40000)) as new_place:
        assert _login(new_place, alice.email, PASSWORD) == 429  # a new place waits ...
    assert _login(client, alice.email, PASSWORD) == 200  # ... the owner at home does not


def test_failures_from_a_known_address_spend_none_of_the_per_account_limit(
    app: FastAPI, client: TestClient, alice: Member
) -> None:
    """The owner's own typos at home leave the 30 failures for new places untouched."""
    assert _login(client, alice.email, PASSWORD) == 200  # the owner's known address
    assert [_login(client, alice.email, WRONG) for _ in range(5)] == [401] * 5
    answers = _wrong_from_new_places(app, alice.email, 31)
    assert answers[:30] == [401] * 30
    assert answers[30] == 429


def test_a_success_clears_the_back_off(client: TestClient, alice: Member) -> None:
    # 4 + 5 failures would back off at the sixth without the success in between
    # (10 requests: within the per-IP limit of 10 a minute).
    assert [_login(client, alice.email, WRONG) for _ in range(4)] == [401] * 4
    assert _login(client, alice.email, PASSWORD) == 200
    assert [_login(client, alice.email, WRONG) for _ in range(5)] == [401] * 5
