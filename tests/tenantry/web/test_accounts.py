"""Register, login, refresh rotation, logout, switch, /api/me."""

from __future__ import annotations

from urllib.parse import quote

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenantry.models import AuditEvent, RefreshToken, User
from tests.conftest import PASSWORD, Member, invite_and_join, register
from tests.support.mail import link_in, mailed, outbox, query_value, text_of
from tests.support.refresh import age_spent_refresh_tokens


def test_register_creates_a_personal_tenant_owned_by_the_user(client: TestClient) -> None:
    member = register(client, "  Dora@Example.COM ", tenant_name="Dora's flat")
    me = client.get("/api/me", headers=member.headers).json()
    assert me["email"] == "dora@example.com"
    assert [(m["name"], m["role"]) for m in me["memberships"]] == [("Dora's flat", "owner")]


def test_sign_up_may_say_the_new_tenants_kind(client: TestClient) -> None:
    """From a stranger's finance app: a family needed a second call (POST /api/tenants)."""
    member = register(client, "fay@example.com", tenant_name="Fay family", tenant_kind="family")
    tenant = client.get("/api/tenant", headers=member.headers).json()
    assert (tenant["name"], tenant["kind"]) == ("Fay family", "family")
    plain = register(client, "gus@example.com")
    assert client.get("/api/tenant", headers=plain.headers).json()["kind"] == "personal"
    odd = client.post(
        "/api/auth/register",
        json={"email": "hal@example.com", "password": PASSWORD, "tenant_kind": "club"},
    )
    assert odd.status_code == 422, odd.text
    assert odd.json()["error"]["code"] == "validation_error"


def test_sign_up_answers_the_same_whether_or_not_the_email_exists(
    client: TestClient, alice: Member
) -> None:
    """Non-enumerating: same status and body; only the mail to the address differs."""
    known = client.post(
        "/api/auth/register", json={"email": " ALICE@example.com", "password": "another password"}
    )
    new = client.post(
        "/api/auth/register", json={"email": "zoe@example.com", "password": "another password"}
    )
    assert known.status_code == new.status_code == 202
    assert known.json() == new.json()
    already = mailed(client.app, "alice@example.com", "already_registered")  # type: ignore[arg-type]
    assert "You already have an account" in text_of(already)
    assert "/forgot-password" in text_of(already)
    # Nothing changed for Alice: her password is the old one, and no second account exists.
    old = client.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert old.status_code == 200
    with client.app.state.tenancy.db.session() as session:  # type: ignore[attr-defined]
        emails = session.scalars(select(User.email).order_by(User.email)).all()
    assert emails == ["alice@example.com", "zoe@example.com"]


def test_an_internationalised_domain_in_either_spelling_is_one_account(
    client: TestClient,
) -> None:
    """``bücher.example`` and ``xn--bcher-kva.example`` are one mailbox (a stranger's
    second sign-up under the ASCII spelling made a second account)."""
    register(client, "zoe@bücher.example")
    again = client.post(
        "/api/auth/register",
        json={"email": "zoe@XN--BCHER-KVA.example", "password": "another password"},
    )
    assert again.status_code == 202
    already = mailed(client.app, "zoe@bücher.example", "already_registered")  # type: ignore[arg-type]
    assert "You already have an account" in text_of(already)
    for spelling in ("zoe@xn--bcher-kva.example", "ZOE@bücher.EXAMPLE"):
        signed_in = client.post("/api/auth/login", json={"email": spelling, "password": PASSWORD})
        assert signed_in.status_code == 200, spelling
    with client.app.state.tenancy.db.session() as session:  # type: ignore[attr-defined]
        assert session.scalars(select(User.email)).all() == ["zoe@bücher.example"]


def test_someone_signed_up_with_another_s_invite_code_is_told_and_not_kept_there(
    client: TestClient, alice: Member
) -> None:
    """Alice signs up Kwame's address with her own household's code and a password she
    chose. The welcome mail names her household; if Kwame instead takes the account over
    with a password reset (which confirms it too), he is not left a member of it."""
    code = client.post(
        "/api/tenant/invites", json={"role": "member"}, headers=alice.headers
    ).json()["code"]
    signed_up = client.post(
        "/api/auth/register",
        json={"email": "kwame@example.com", "password": "alice chose this", "invite_code": code},
    )
    assert signed_up.status_code == 202
    welcome = text_of(mailed(client.app, "kwame@example.com", "welcome"))  # type: ignore[arg-type]
    assert 'confirming makes you a member of "Alice household" (as member)' in welcome
    client.post("/api/auth/password/forgot", json={"email": "kwame@example.com"})
    reset = mailed(client.app, "kwame@example.com", "password_reset")  # type: ignore[arg-type]
    token = query_value(link_in(reset, "/reset-password"), "token")
    done = client.post(
        "/api/auth/password/reset", json={"token": token, "password": "kwame's own password"}
    )
    assert done.status_code == 204, done.text
    login = client.post(
        "/api/auth/login", json={"email": "kwame@example.com", "password": "kwame's own password"}
    )
    assert login.status_code == 200
    me = client.get("/api/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"})
    assert me.json()["memberships"] == []
    members = client.get("/api/tenant/members", headers=alice.headers).json()
    assert "kwame@example.com" not in [m["email"] for m in members]


def test_an_account_signing_up_again_with_an_invite_is_mailed_the_way_to_join(
    client: TestClient, alice: Member, bob: Member
) -> None:
    """The "already registered" mail said only "nothing was changed": the invitation was
    lost on a person who had forgotten they had an account."""
    code = client.post(
        "/api/tenant/invites", json={"role": "member"}, headers=alice.headers
    ).json()["code"]
    again = client.post(
        "/api/auth/register",
        json={"email": bob.email, "password": "another password", "invite_code": code},
    )
    assert again.status_code == 202
    text = text_of(mailed(client.app, bob.email, "already_registered"))  # type: ignore[arg-type]
    assert 'The sign-up used an invitation to "Alice household"' in text
    assert f"/invite?code={quote(code)}" in text


@pytest.mark.parametrize(
    "typed",
    [
        "straße@example.org",
        "\u212aate@example.org",
        "=?utf-8?q?bob?=@example.org",  # a mail header reads it as bob@example.org
    ],
)
def test_a_mailbox_name_is_never_folded_into_another(client: TestClient, typed: str) -> None:
    """Case-folding made ``straße@`` into ``strasse@`` (the Kelvin sign into ``k``):
    the account was made for, and its confirmation mailed to, another mailbox. Such a
    name is not ASCII, which the part before the ``@`` must be: refused, not rewritten.
    So is an encoded word, which a mail header decodes into another address."""
    answer = client.post("/api/auth/register", json={"email": typed, "password": PASSWORD})
    assert answer.status_code == 422
    assert answer.json()["error"]["details"]["field"] == "email"
    with client.app.state.tenancy.db.session() as session:  # type: ignore[attr-defined]
        assert session.scalars(select(User.email)).all() == []


def test_an_address_keeps_one_account_whatever_its_ascii_case(client: TestClient) -> None:
    register(client, "Jorg.Meier@Example.ORG")
    again = client.post(
        "/api/auth/register", json={"email": "JORG.MEIER@example.org", "password": PASSWORD}
    )
    assert again.status_code == 202  # the same answer as a new address; no second account
    with client.app.state.tenancy.db.session() as session:  # type: ignore[attr-defined]
        assert session.scalars(select(User.email)).all() == ["jorg.meier@example.org"]


def test_a_domain_with_a_sharp_s_is_its_own_domain(client: TestClient) -> None:
    """Case-folding made ``straße.de`` into ``strasse.de``, another domain: the account's
    mails went there, and that domain's mailbox could take the account over with a reset."""
    register(client, "jorg@straße.de")
    other = register(client, "jorg@strasse.de")
    assert other.email == "jorg@strasse.de"
    with client.app.state.tenancy.db.session() as session:  # type: ignore[attr-defined]
        emails = sorted(session.scalars(select(User.email)))
    assert emails == ["jorg@strasse.de", "jorg@straße.de"]
    client.post("/api/auth/password/forgot", json={"email": "JORG@STRASSE.DE"})
    reset = mailed(client.app, "jorg@strasse.de", "password_reset")  # type: ignore[arg-type]
    assert reset["To"] == "jorg@strasse.de"
    welcome = mailed(client.app, "jorg@straße.de", "welcome")  # type: ignore[arg-type]
    assert welcome["To"] == "jorg@xn--strae-oqa.de"


def test_sign_up_to_more_than_one_mailbox_is_refused(client: TestClient) -> None:
    """A list of addresses would send the confirmation link to each of them."""
    lists = ("v@example.com,attacker@evil.example", "v@example.com\nbcc: a@evil.example")
    for email in (*lists, "josé@example.com"):  # and a local part few servers take
        response = client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "validation_error"
    assert outbox(client.app) == []  # type: ignore[arg-type]


def test_control_characters_get_the_same_answer_on_every_backend(
    client: TestClient, alice: Member
) -> None:
    """SQLite stored a NUL that PostgreSQL refused: the body is refused before either."""
    asks = [
        ("PATCH", "/api/tenant", {"name": "a\u0000b"}, "name: must be one line of text"),
        ("PATCH", "/api/tenant", {"name": "two\nlines"}, "name: must be one line of text"),
        ("POST", "/api/auth/password/forgot", {"email": "a\u0000@x.org"}, None),
        ("POST", "/api/auth/login", {"email": alice.email, "password": "p\u0000"}, None),
    ]
    for method, path, body, message in asks:
        response = client.request(method, path, json=body, headers=alice.headers)
        assert response.status_code == 422, (path, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_error", error
        assert message is None or error["message"] == message, error
    assert client.get("/api/tenant", headers=alice.headers).json()["name"] != "a\u0000b"


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("\u202e evil", "must not hold characters that reorder text"),  # shows reversed
        ("Home \u2066x", "must not hold characters that reorder text"),
        ("\u200b", "must have a visible character"),  # a name no one can see
        ("\u200b\u2060 \ufeff", "must have a visible character"),
    ],
)
def test_a_name_that_does_not_show_as_it_reads_is_refused(
    client: TestClient, alice: Member, name: str, says: str
) -> None:
    for method, path in (("POST", "/api/tenants"), ("PATCH", "/api/tenant")):
        response = client.request(method, path, json={"name": name}, headers=alice.headers)
        assert response.status_code == 422, (path, response.text)
        assert says in response.json()["error"]["message"]
    fine = client.patch("/api/tenant", json={"name": "Ünïcødé Haus \u200d"}, headers=alice.headers)
    assert fine.status_code == 200  # letters of any script, a joiner among them, are fine


def test_an_unverified_account_cannot_sign_in_and_is_sent_a_new_link(client: TestClient) -> None:
    body = {"email": "una@example.com", "password": PASSWORD}
    assert client.post("/api/auth/register", json=body).status_code == 202
    right = client.post("/api/auth/login", json=body)
    wrong = client.post("/api/auth/login", json={**body, "password": "not the password"})
    assert right.status_code == wrong.status_code == 401
    assert right.json() == wrong.json()  # registering someone's email teaches nothing
    again = mailed(client.app, "una@example.com", "verify_email")  # type: ignore[arg-type]
    token = query_value(link_in(again, "/verify-email"), "token")
    verified = client.post("/api/auth/verify", json={"token": token})
    assert verified.status_code == 200
    assert verified.json()["role"] == "owner"
    assert client.post("/api/auth/login", json=body).status_code == 200


def test_a_verification_link_works_once_and_cannot_be_forged(client: TestClient) -> None:
    client.post("/api/auth/register", json={"email": "vic@example.com", "password": PASSWORD})
    welcome = mailed(client.app, "vic@example.com", "welcome")  # type: ignore[arg-type]
    token = query_value(link_in(welcome, "/verify-email"), "token")
    assert client.post("/api/auth/verify", json={"token": token}).status_code == 200
    reused = client.post("/api/auth/verify", json={"token": token})
    assert reused.status_code == 422
    assert reused.json()["error"]["details"] == {"field": "token"}
    forged = jwt.encode(
        {"sub": "1", "email": "vic@example.com", "exp": 4_000_000_000},
        "not the key" * 4,
        headers={"typ": "verify-email"},
    )
    assert client.post("/api/auth/verify", json={"token": forged}).status_code == 422
    assert client.post("/api/auth/verify", json={"token": "x" * 50}).status_code == 422


def test_sign_up_checks_an_invite_code_the_same_for_known_and_new_emails(
    client: TestClient, alice: Member
) -> None:
    bad = {"password": PASSWORD, "invite_code": "NOPE-NOPE"}
    known = client.post("/api/auth/register", json={"email": alice.email, **bad})
    new = client.post("/api/auth/register", json={"email": "neo@example.com", **bad})
    assert known.status_code == new.status_code == 400
    assert known.json() == new.json()


def test_login_does_not_reveal_which_emails_exist(client: TestClient, alice: Member) -> None:
    wrong_password = client.post(
        "/api/auth/login", json={"email": alice.email, "password": "not the password"}
    )
    unknown = client.post("/api/auth/login", json={"email": "nobody@example.com", "password": "x"})
    assert wrong_password.status_code == unknown.status_code == 401
    assert wrong_password.json() == unknown.json()


def test_login_returns_tokens(client: TestClient, alice: Member) -> None:
    response = client.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["tenant_id"] == alice.tenant_id


def test_refresh_rotates_and_a_reused_token_revokes_the_family(
    client: TestClient, app: FastAPI, alice: Member
) -> None:
    first = client.post("/api/auth/refresh", json={"refresh_token": alice.refresh})
    assert first.status_code == 200
    second_token = first.json()["refresh_token"]
    age_spent_refresh_tokens(app)
    reuse = client.post("/api/auth/refresh", json={"refresh_token": alice.refresh})
    assert reuse.status_code == 401
    # The stolen-token alarm revoked the legitimate successor too.
    assert client.post("/api/auth/refresh", json={"refresh_token": second_token}).status_code == 401


def test_a_token_used_twice_at_once_gives_each_use_a_pair_of_its_own(
    client: TestClient, app: FastAPI, alice: Member
) -> None:
    """Two tabs renewing together (or a retry after a lost answer) are not a theft: the
    second use within the grace gets a pair too, and both pairs go on working."""
    pairs = [client.post("/api/auth/refresh", json={"refresh_token": alice.refresh}) for _ in "ab"]
    assert [p.status_code for p in pairs] == [200, 200]
    tokens = [p.json()["refresh_token"] for p in pairs]
    assert len({alice.refresh, *tokens}) == 3
    for token in tokens:
        again = client.post("/api/auth/refresh", json={"refresh_token": token})
        assert again.status_code == 200, again.text
    with app.state.tenancy.db.session() as session:
        assert session.scalar(select(func.count()).where(RefreshToken.revoked_at.is_not(None))) == 0


def test_logout_revokes_the_refresh_token(client: TestClient, alice: Member) -> None:
    assert client.post("/api/auth/logout", json={"refresh_token": alice.refresh}).status_code == 204
    assert (
        client.post("/api/auth/refresh", json={"refresh_token": alice.refresh}).status_code == 401
    )


def test_logout_everywhere_ends_every_session_of_the_account_at_once(
    client: TestClient, alice: Member, bob: Member, app: FastAPI
) -> None:
    """A lost phone: its access token is refused on its next request, not at expiry; other
    people's sessions go on."""
    phone = client.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert phone.status_code == 200
    phone_bearer = {"Authorization": f"Bearer {phone.json()['access_token']}"}
    # Logout alone leaves the access token alive until it expires (documented):
    client.post("/api/auth/logout", json={"refresh_token": phone.json()["refresh_token"]})
    assert client.get("/api/tenant", headers=phone_bearer).status_code == 200

    ended = client.post("/api/auth/logout/everywhere", headers=alice.headers)
    assert ended.status_code == 204
    for headers in (phone_bearer, alice.headers):
        assert client.get("/api/tenant", headers=headers).status_code == 401
    refused = client.post("/api/auth/refresh", json={"refresh_token": alice.refresh})
    assert refused.status_code == 401
    assert client.get("/api/tenant", headers=bob.headers).status_code == 200
    again = client.post("/api/auth/logout/everywhere", headers=alice.headers)
    assert again.status_code == 401  # an ended session cannot end the next one
    with app.state.tenancy.db.session() as session:
        reasons = session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "session.revoked")
        ).all()
    assert {"reason": "everywhere"} in reasons
    signed_in = client.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert signed_in.status_code == 200  # the password still works


def test_switch_to_a_tenant_of_mine_and_not_to_another(
    client: TestClient, alice: Member, bob: Member
) -> None:
    created = client.post(
        "/api/tenants", json={"name": "Alice office", "kind": "business"}, headers=alice.headers
    )
    assert created.status_code == 201
    office = created.json()["tenant_id"]
    switched = client.post("/api/auth/switch", json={"tenant_id": office}, headers=alice.headers)
    assert switched.status_code == 200
    token = switched.json()["access_token"]
    tenant = client.get("/api/tenant", headers={"Authorization": f"Bearer {token}"}).json()
    assert tenant["name"] == "Alice office"
    refused = client.post(
        "/api/auth/switch", json={"tenant_id": bob.tenant_id}, headers=alice.headers
    )
    assert refused.status_code == 404
    assert len(client.get("/api/tenants", headers=alice.headers).json()) == 2


def test_me_still_answers_once_the_tokens_tenant_is_gone(client: TestClient, alice: Member) -> None:
    """Removed from the tenant the token names, a person is signed in and in no tenant:
    /api/me (how a client finds where to go) answered 404 tenant_not_found."""
    carol = invite_and_join(client, alice, "carol@example.com")
    assert (
        client.delete(f"/api/tenant/members/{carol.user_id}", headers=alice.headers).status_code
        == 204
    )
    me = client.get("/api/me", headers=carol.headers)
    assert me.status_code == 200, me.text
    assert me.json()["current_tenant_id"] is None
    assert me.json()["memberships"] == []  # she joined by invite: no tenant of her own
    # A tenant the request names itself is still checked like on any route.
    named = client.get("/api/me", headers={**carol.headers, "X-Tenant-ID": alice.tenant_id})
    assert named.status_code == 404


def test_no_token_is_401_with_the_error_shape(client: TestClient) -> None:
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_weak_password_names_the_field(client: TestClient) -> None:
    response = client.post(
        "/api/auth/register", json={"email": "e@example.com", "password": "short"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"] == {"field": "password"}


def test_a_password_guessers_try_early_is_refused_however_long(
    client: TestClient, alice: Member
) -> None:
    """Only the length was checked: ``aaaaaaaaaa``, ``password123`` and the address itself
    made accounts (a stranger's finding)."""
    # Four: sign-ups are limited to 5 a minute from one client, and Alice signed up here.
    for weak in ("aaaaaaaaaa", "password123", "qwertyuiop", "weak.pw@example.org"):
        refused = client.post(
            "/api/auth/register", json={"email": "weak.pw@example.org", "password": weak}
        )
        assert refused.status_code == 422, weak
        error = refused.json()["error"]
        assert error["details"] == {"field": "password"}
        assert error["message"].startswith("this password is too easy to guess"), error
    changed = client.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": "alice@example.com"},
        headers=alice.headers,
    )
    assert changed.status_code == 422
    assert changed.json()["error"]["details"] == {"field": "new_password"}


def test_a_password_longer_than_the_estimator_takes_is_judged_not_a_500(
    client: TestClient,
) -> None:
    """zxcvbn refuses more than 72 characters (ValueError): the API's fuzzing got a 500."""
    long_and_good = "tangerine lighthouse orbit " * 8
    made = client.post(
        "/api/auth/register", json={"email": "long@example.com", "password": long_and_good}
    )
    assert made.status_code == 202, made.text
    weak = client.post(
        "/api/auth/register", json={"email": "ones@example.com", "password": "1" * 200}
    )
    assert weak.status_code == 422, weak.text


def test_login_is_rate_limited_per_ip(client: TestClient, alice: Member) -> None:
    """One address guessing many accounts (each under the per-account back-off)."""
    answers = [
        client.post("/api/auth/login", json={"email": f"u{n}@example.com", "password": "wrong"})
        for n in range(11)
    ]
    assert [a.status_code for a in answers[:10]] == [401] * 10
    assert answers[10].status_code == 429
    assert answers[10].json()["error"]["code"] == "rate_limited"
