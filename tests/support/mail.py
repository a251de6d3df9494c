"""Reading the mails a test caused: from the outbox folder or from the test SMTP server."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from fastapi import FastAPI

from tenantry.mail import OutboxMailer
from tenantry.models import normalize_email
from tests.support.ports import free_port


class SmtpServer:
    """A real SMTP server (aiosmtpd) on a free local port that keeps what it receives."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()
        self.refuse = False  # answer 451 to every mail (tests of retries)
        # Cleared: a mail's DATA waits (``waiting`` set) until it is set again, then gets 451,
        # as from a server that never answered (tests of a sender killed mid-send).
        self.hold = threading.Event()
        self.hold.set()
        self.waiting = threading.Event()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def stop(self) -> None:
        """Stop listening (an outage); ``start()`` listens again on the same port."""
        self.controller.stop()

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.hold.is_set():
            self.waiting.set()
            while not self.hold.is_set():
                await asyncio.sleep(0.02)
            return "451 try again later"
        if self.refuse:
            return "451 try again later"
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        with self._lock:
            self.received.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.received)

    def wait_for(self, to: str, kind: str, timeout: float = 10.0) -> EmailMessage:
        """The newest mail of ``kind`` to ``to``, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while True:
            found = find(self.messages(), to, kind)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no {kind!r} mail to {to} arrived")
            time.sleep(0.02)


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.controller.start()
    try:
        yield server
    finally:
        server.stop()


def find(messages: list[EmailMessage], to: str, kind: str) -> EmailMessage | None:
    address = normalize_email(to)
    for message in reversed(messages):
        if message["X-Tenantry-Message"] == kind and normalize_email(message["To"]) == address:
            return message
    return None


def outbox(app: FastAPI) -> list[EmailMessage]:
    """Every mail the app has written to its outbox folder, once the postman is idle."""
    postman = app.state.tenancy.postman
    assert postman.wait_idle(), "mails still waiting to leave"
    mailer = postman.mailer
    assert isinstance(mailer, OutboxMailer), "this app sends by SMTP: read the smtp fixture"
    return mailer.messages() if mailer.directory.exists() else []


def mailed(app: FastAPI, to: str, kind: str) -> EmailMessage:
    found = find(outbox(app), to, kind)
    assert found is not None, f"no {kind!r} mail to {to} in the outbox"
    return found


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content: str = part.get_content()  # type: ignore[attr-defined]
    return content


def link_in(message: EmailMessage, path: str) -> str:
    """The first URL in the text body whose path is ``path``."""
    for url in re.findall(r"https?://\S+", text_of(message)):
        if urlsplit(url).path == path:
            return str(url)
    raise AssertionError(f"no link to {path} in the mail")


def query_value(url: str, name: str) -> str:
    return parse_qs(urlsplit(url).query)[name][0]


def local_path(url: str) -> str:
    """``/path?query`` of an absolute URL, for a test client of the same app."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# The headers every mail tenantry writes carries, in order: no other (an injected
# Reply-To or Bcc) may appear.
OUR_HEADERS = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "X-Tenantry-Message",
    "MIME-Version",
    "Content-Type",
]
