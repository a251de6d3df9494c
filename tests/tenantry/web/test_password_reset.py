"""Password reset by mail: same answer for every email, single use, every session ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from tenantry.models import PasswordReset, User
from tenantry.models.user import NO_PASSWORD
from tests.conftest import PASSWORD, Member
from tests.support.mail import link_in, mailed, outbox, query_value, text_of

NEW = "a brand new password"


def _reset_token(client: TestClient, email: str) -> str:
    answer = client.post("/api/auth/password/forgot", json={"email": email})
    assert answer.status_code == 202
    mail = mailed(client.app, email, "password_reset")  # type: ignore[arg-type]
    return query_value(link_in(mail, "/reset-password"), "token")


def test_forgot_answers_the_same_for_known_and_unknown_emails(
    client: TestClient, alice: Member
) -> None:
    known = client.post("/api/auth/password/forgot", json={"email": alice.email})
    unknown = client.post("/api/auth/password/forgot", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert mailed(client.app, alice.email, "password_reset")  # type: ignore[arg-type]


def test_reset_ends_every_session_and_works_once(client: TestClient, alice: Member) -> None:
    token = _reset_token(client, alice.email)
    stored = client.app.state.tenancy.db  # type: ignore[attr-defined]
    with stored.session() as session:  # only a hash is stored
        hashes = session.query(PasswordReset.token_hash).all()
    assert token not in {h for (h,) in hashes}
    assert (
        client.post("/api/auth/password/reset", json={"token": token, "password": NEW}).status_code
        == 204
    )
    # The old access token and the old refresh token are dead at once.
    assert client.get("/api/tenant", headers=alice.headers).status_code == 401
    assert client.get("/api/tenants", headers=alice.headers).status_code == 401
    assert (
        client.post("/api/auth/refresh", json={"refresh_token": alice.refresh}).status_code == 401
    )
    # Old password refused, new one accepted; the link does not work twice.
    old = client.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert old.status_code == 401
    new = client.post("/api/auth/login", json={"email": alice.email, "password": NEW})
    assert new.status_code == 200
    fresh = {"Authorization": f"Bearer {new.json()['access_token']}"}
    assert client.get("/api/tenant", headers=fresh).status_code == 200
    again = client.post("/api/auth/password/reset", json={"token": token, "password": NEW + "x"})
    assert again.status_code == 422
    changed = mailed(client.app, alice.email, "password_changed")  # type: ignore[arg-type]
    assert "signed out" in text_of(changed)


def test_an_expired_or_unknown_token_is_refused(client: TestClient, alice: Member) -> None:
    token = _reset_token(client, alice.email)
    with client.app.state.tenancy.db.session() as session:  # type: ignore[attr-defined]
        session.execute(
            update(PasswordReset).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = client.post("/api/auth/password/reset", json={"token": token, "password": NEW})
    assert expired.status_code == 422
    assert expired.json()["error"]["details"] == {"field": "token"}
    unknown = client.post("/api/auth/password/reset", json={"token": "nope", "password": NEW})
    assert unknown.status_code == 422
    weak = client.post("/api/auth/password/reset", json={"token": token, "password": "short"})
    assert weak.status_code == 422
    assert weak.json()["error"]["details"] == {"field": "password"}


def test_a_reset_confirms_an_unverified_address(client: TestClient) -> None:
    """Following the mailed link proves the mailbox, as the verification link would."""
    client.post("/api/auth/register", json={"email": "ula@example.com", "password": PASSWORD})
    token = _reset_token(client, "ula@example.com")
    client.post("/api/auth/password/reset", json={"token": token, "password": NEW})
    login = client.post("/api/auth/login", json={"email": "ula@example.com", "password": NEW})
    assert login.status_code == 200


def test_a_password_change_spends_the_reset_links_mailed_before(
    client: TestClient, alice: Member
) -> None:
    """A link asked for before the change let whoever reads the mailbox set the password
    again afterwards."""
    token = _reset_token(client, alice.email)
    changed = client.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": NEW},
        headers=alice.headers,
    )
    assert changed.status_code == 200, changed.text  # new tokens: this session goes on
    late = client.post("/api/auth/password/reset", json={"token": token, "password": NEW + "x"})
    assert late.status_code == 422
    assert late.json()["error"]["details"] == {"field": "token"}
    assert client.post("/api/auth/login", json={"email": alice.email, "password": NEW}).is_success


def test_a_link_asked_for_before_an_erasure_gives_the_placeholder_no_password(
    client: TestClient, alice: Member
) -> None:
    token = _reset_token(client, alice.email)
    erased = client.post("/api/me/erase", json={"password": PASSWORD}, headers=alice.headers)
    assert erased.status_code == 204
    reset = client.post("/api/auth/password/reset", json={"token": token, "password": NEW})
    assert reset.status_code == 422
    assert reset.json()["error"]["details"]["field"] == "token"
    with client.app.state.tenancy.db.session() as session:  # type: ignore[attr-defined]
        assert session.query(PasswordReset).filter_by(user_id=alice.user_id).count() == 0
        assert session.get(User, alice.user_id).password_hash == NO_PASSWORD


def test_many_clients_asking_for_one_address_do_not_fill_its_mailbox(
    app: FastAPI, client: TestClient, alice: Member
) -> None:
    """Five reset or "already registered" mails an hour to one address, however many
    clients ask (a tester sent 30 from 6 addresses); every answer stays the same."""
    answers = []
    for n in range(4):  # the app's lifespan runs in ``client``: its mails leave
        bot = TestClient(app, client=(f"198.51.100.{n + 1}", 40000))
        answers.append(bot.post("/api/auth/password/forgot", json={"email": "ALICE@example.com"}))
        answers.append(
            bot.post(
                "/api/auth/register",
                json={"email": alice.email, "password": "someone else's password"},
            )
        )
    assert [a.status_code for a in answers] == [202] * 8
    mails = [
        m
        for m in outbox(app)
        if m["To"] == alice.email
        and m["X-Tenantry-Message"] in ("password_reset", "already_registered")
    ]
    assert len(mails) == 5
    assert app.state.tenancy.config.mail_to_address_rate == "5/hour"
