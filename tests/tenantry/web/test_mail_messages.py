"""Every message, delivered to a real SMTP server, with links that work (both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tenantry_server.app import create_app, default_plugins
from tenantry_server.settings import Settings
from tests.conftest import FAST_PASSWORDS, PASSWORD
from tests.support.mail import OUR_HEADERS, SmtpServer, link_in, query_value, text_of


@pytest.fixture
def mail_client(settings: Settings, smtp: SmtpServer) -> Iterator[TestClient]:
    """The server sending through the test SMTP server, links under https://meter.example."""
    configured = settings.model_copy(
        update={"smtp_url": smtp.url, "public_url": "https://meter.example"}
    )
    app = create_app(configured, default_plugins(), passwords=FAST_PASSWORDS)
    with TestClient(app) as client:
        yield client
    app.state.tenancy.db.dispose()


def _signed_up(client: TestClient, smtp: SmtpServer, email: str, **extra: Any) -> dict[str, str]:
    body = {"email": email, "password": PASSWORD, **extra}
    assert client.post("/api/auth/register", json=body).status_code == 202
    link = link_in(smtp.wait_for(email, "welcome"), "/verify-email")
    assert link.startswith("https://meter.example/verify-email?token=")
    verified = client.post("/api/auth/verify", json={"token": query_value(link, "token")})
    assert verified.status_code == 200, verified.text
    return {"Authorization": f"Bearer {verified.json()['access_token']}"}


def test_invitation_by_email_join_and_owner_notices(
    mail_client: TestClient, smtp: SmtpServer
) -> None:
    client = mail_client
    alice = _signed_up(client, smtp, "alice@example.com", tenant_name="Flat <b>4</b>")
    created = client.post(
        "/api/tenant/invites", json={"email": "Carol@Example.com", "role": "viewer"}, headers=alice
    )
    assert created.status_code == 201
    invitation = smtp.wait_for("carol@example.com", "invitation")
    text = text_of(invitation)
    code = created.json()["code"]
    assert code in text
    assert query_value(link_in(invitation, "/invite"), "code") == code
    html = invitation.get_body(preferencelist=("html",))
    assert html is not None
    assert "Flat &lt;b&gt;4&lt;/b&gt;" in html.get_content()  # type: ignore[attr-defined]
    # Carol follows it: the preview names the household, and signing up with it joins her.
    preview = client.post("/api/invites/preview", json={"code": code}).json()
    assert preview["tenant_name"] == "Flat <b>4</b>"
    carol = _signed_up(client, smtp, "carol@example.com", invite_code=code)
    assert client.get("/api/tenant", headers=carol).json()["role"] == "viewer"
    joined = smtp.wait_for("alice@example.com", "member_joined")
    assert "carol@example.com" in text_of(joined)
    slug = client.get("/api/tenant", headers=alice).json()["slug"]
    assert f"https://meter.example/t/{slug}/household" in text_of(joined)
    assert client.post("/api/tenant/leave", headers=carol).status_code == 204
    left = smtp.wait_for("alice@example.com", "member_left")
    assert "left" in text_of(left)
    # Nobody is told about their own doing.
    to_carol = {m["X-Tenantry-Message"] for m in smtp.messages() if m["To"] == "carol@example.com"}
    assert to_carol == {"invitation", "welcome"}


def test_account_mails_reach_the_smtp_server(mail_client: TestClient, smtp: SmtpServer) -> None:
    client = mail_client
    _signed_up(client, smtp, "dora@example.com")
    # Signing up again with a known address: a mail says so.
    client.post("/api/auth/register", json={"email": "dora@example.com", "password": PASSWORD})
    assert "already have" in text_of(smtp.wait_for("dora@example.com", "already_registered"))
    # An unverified account trying to sign in gets a new link.
    client.post("/api/auth/register", json={"email": "eve@example.com", "password": PASSWORD})
    client.post("/api/auth/login", json={"email": "eve@example.com", "password": PASSWORD})
    again = smtp.wait_for("eve@example.com", "verify_email")
    token = query_value(link_in(again, "/verify-email"), "token")
    assert client.post("/api/auth/verify", json={"token": token}).status_code == 200
    # Forgot, reset, and a notice that it happened.
    client.post("/api/auth/password/forgot", json={"email": "dora@example.com"})
    reset = link_in(smtp.wait_for("dora@example.com", "password_reset"), "/reset-password")
    done = client.post(
        "/api/auth/password/reset",
        json={"token": query_value(reset, "token"), "password": "a new password!"},
    )
    assert done.status_code == 204
    assert smtp.wait_for("dora@example.com", "password_changed")


# RFC 2047 encoded-words that decode to line feeds: headers of their own, then a body.
HOUSE = (
    "=?utf-8?q?Hi=0AReply-To=3A_help=40evil.example=0AContent-Type=3A_text/html"
    "=0A=0A<h1>Security_alert</h1>?="
)
PERSON = "=?utf-8?q?Admin=0ABcc=3A_x=40evil.example?= Mal"


def _as_we_wrote_it(mail: Any, subject: str, body: str, names: list[str]) -> None:
    """Only our headers, the names literal in the Subject, our body, the HTML escaped."""
    assert mail.keys() == OUR_HEADERS
    assert mail["Reply-To"] is None and mail["Bcc"] is None
    assert mail["Subject"].replace("\u2060", "") == subject  # a word joiner keeps = from ?
    assert mail.get_content_type() == "multipart/alternative"
    assert body in text_of(mail)
    html = mail.get_body(preferencelist=("html",)).get_content()
    for name in names:
        assert name.replace("<", "&lt;").replace(">", "&gt;") in html
    assert "<h1>" not in html


def test_names_that_are_encoded_words_stay_literal_in_mail_headers(
    mail_client: TestClient, smtp: SmtpServer
) -> None:
    client = mail_client
    mal = _signed_up(client, smtp, "mal@example.com", tenant_name=HOUSE, display_name=PERSON)
    created = client.post(
        "/api/tenant/invites", json={"email": "vic@example.com", "role": "viewer"}, headers=mal
    )
    assert created.status_code == 201
    invitation = smtp.wait_for("vic@example.com", "invitation")
    subject = f"{PERSON} invites you to {HOUSE} on meterbook"
    _as_we_wrote_it(invitation, subject, created.json()["code"], [PERSON, HOUSE])
    # Joining with a display name of the same kind: the owners' notice.
    _signed_up(
        client,
        smtp,
        "vic@example.com",
        invite_code=created.json()["code"],
        display_name=PERSON,
    )
    joined = smtp.wait_for("mal@example.com", "member_joined")
    _as_we_wrote_it(joined, f"{PERSON} joined {HOUSE}", "vic@example.com", [PERSON, HOUSE])
