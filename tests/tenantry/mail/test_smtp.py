"""The SMTP mailer against a real SMTP server (aiosmtpd), and its URL options."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tenantry.mail import HeaderError, MailError, Message, SmtpMailer, mailer_from_url
from tenantry.mail.outbox import OutboxMailer
from tests.support.mail import OUR_HEADERS, SmtpServer, text_of

MESSAGE = Message(
    to="ann@example.com", subject="Hello", text="plain body", html="<p>html body</p>", kind="t"
)


def test_a_mail_reaches_the_smtp_server_with_both_bodies(smtp: SmtpServer) -> None:
    SmtpMailer.from_url(smtp.url).send(MESSAGE, sender="site <no-reply@example.com>")
    [received] = smtp.messages()
    assert smtp.envelopes == [("no-reply@example.com", ["ann@example.com"])]
    assert received["Subject"] == "Hello"
    assert received["X-Tenantry-Message"] == "t"
    assert text_of(received).strip() == "plain body"
    html = received.get_body(preferencelist=("html",))
    assert html is not None
    assert "<p>html body</p>" in html.get_content()  # type: ignore[attr-defined]


def test_an_internationalised_domain_reaches_the_server_as_idna(smtp: SmtpServer) -> None:
    """Its header was an RFC 2047 word inside the address (user@=?utf-8?q?…?=.com)."""
    to_idn = Message(to="ann@exämple.com", subject="Hi", text="t", html="<p>h</p>")
    SmtpMailer.from_url(smtp.url).send(to_idn, sender="no-reply@example.com")
    [received] = smtp.messages()
    assert received["To"] == "ann@xn--exmple-cua.com"
    assert smtp.envelopes == [("no-reply@example.com", ["ann@xn--exmple-cua.com"])]


# An RFC 2047 encoded-word that decodes to line feeds: headers of its own, then a body.
INJECTION = (
    "=?utf-8?q?Hi=0AReply-To=3A_help=40evil.example=0ABcc=3A_x=40evil.example"
    "=0AContent-Type=3A_text/html=0A=0A<h1>x</h1>?="
)


def test_an_encoded_word_in_the_subject_stays_literal_text(smtp: SmtpServer) -> None:
    """The email package decoded it, anywhere in a word, and wrote its line feeds raw."""
    subject = f"Mal invites you to {INJECTION} and x{INJECTION} on site"
    mail = Message(to="ann@example.com", subject=subject, text="ours", html="<p>ours</p>", kind="k")
    SmtpMailer.from_url(smtp.url).send(mail, sender="site <no-reply@example.com>")
    [received] = smtp.messages()
    assert received.keys() == OUR_HEADERS
    # What the recipient reads is the name as typed (a word joiner keeps "=" from "?").
    assert received["Subject"].replace("\u2060", "") == subject
    assert received.get_content_type() == "multipart/alternative"
    assert text_of(received).strip() == "ours"


def test_control_characters_and_line_separators_leave_the_subject() -> None:
    mail = Message(to="ann@example.com", subject="a\tb\x85c\u2028d\x00e", text="t", html="h")
    assert mail.to_email("no-reply@example.com")["Subject"] == "a b c d e"


def test_a_header_that_would_break_a_line_is_refused() -> None:
    """The last wall, for what is not made literal (a sender from the settings): a
    vertical tab decoded from the display name's encoded-word."""
    with pytest.raises(HeaderError, match="From"):
        MESSAGE.to_email("=?utf-8?q?Site=0BBcc=3A_x=40evil.example?= <no-reply@example.com>")


def test_an_address_read_as_another_is_refused() -> None:
    """A valid address whose header would read ``bob@example.com``, where smtplib sends."""
    to_bob = Message(to="=?utf-8?q?bob?=@example.com", subject="s", text="t", html="h")
    with pytest.raises(HeaderError, match="does not survive"):
        to_bob.to_email("no-reply@example.com")


def test_a_refusing_server_is_a_mail_error(smtp: SmtpServer) -> None:
    smtp.refuse = True
    with pytest.raises(MailError, match="451"):
        SmtpMailer.from_url(smtp.url).send(MESSAGE, sender="no-reply@example.com")


def test_nobody_listening_is_a_mail_error() -> None:
    with pytest.raises(MailError):
        SmtpMailer.from_url("smtp://127.0.0.1:9?timeout=2").send(MESSAGE, sender="a@b.c")


def test_urls_choose_tls_port_and_credentials() -> None:
    plain = SmtpMailer.from_url("smtp://relay.local")
    assert (plain.port, plain.implicit_tls, plain.starttls) == (25, False, False)
    start = SmtpMailer.from_url("smtp://me%40x.org:p%3Ass@mail.x.org?starttls=true&timeout=5")
    assert (start.port, start.starttls, start.username, start.password, start.timeout) == (
        587,
        True,
        "me@x.org",
        "p:ss",
        5.0,
    )
    implicit = SmtpMailer.from_url("smtps://mail.x.org")
    assert (implicit.port, implicit.implicit_tls) == (465, True)
    with pytest.raises(ValueError, match="smtp://host"):
        SmtpMailer.from_url("http://mail.x.org")
    # A mistyped option was silently ignored: mail then went out in the clear.
    with pytest.raises(ValueError, match="not 'maybe'"):
        SmtpMailer.from_url("smtp://mail.x.org?starttls=maybe")
    with pytest.raises(ValueError, match="no option 'tls'"):
        SmtpMailer.from_url("smtp://mail.x.org?tls=true")


def test_no_url_means_the_outbox(tmp_path) -> None:  # type: ignore[no-untyped-def]
    mailer = mailer_from_url(None, tmp_path)
    assert isinstance(mailer, OutboxMailer)
    mailer.send(MESSAGE, sender="a@b.c")
    [mail] = mailer.messages()
    assert mail["To"] == "ann@example.com"


def test_the_outbox_waits_for_a_mail_another_process_writes(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path)
    later = threading.Timer(0.3, mailer.send, args=(MESSAGE,), kwargs={"sender": "a@b.c"})
    later.start()
    assert mailer.find("ann@example.com", "t") is None  # not written yet
    found = mailer.wait_for("ann@example.com", "t", timeout=10)
    assert found is not None and found["To"] == "ann@example.com"
    started = time.monotonic()
    assert mailer.wait_for("bob@example.com", "t", timeout=0.2) is None
    assert time.monotonic() - started >= 0.2  # it waited before it gave up
