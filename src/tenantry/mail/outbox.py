"""The mailer used when no SMTP server is configured: each mail is an ``.eml`` file in a folder."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from tenantry.mail.message import MailError, Message
from tenantry.models.user import normalize_email


class OutboxMailer:
    """Writes mails into ``directory`` (open them with any mail program, or read them in tests)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: Message, *, sender: str) -> None:
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            temporary = self.directory / f".{name}.tmp"
            temporary.write_bytes(message.to_email(sender).as_bytes())
            temporary.rename(self.directory / name)  # readers never see half a mail
        except OSError as exc:
            raise MailError(f"cannot write to the outbox {self.directory}: {exc}") from exc

    def find(self, to: str, kind: str) -> EmailMessage | None:
        """The newest mail of ``kind`` (its template) to ``to`` (in either spelling of an
        internationalised domain: the header carries the ASCII one), or None."""
        parser = BytesParser(policy=policy.default)
        address = normalize_email(to)
        for path in sorted(self.directory.glob("*.eml"), reverse=True):
            data = path.read_bytes()
            # Headers first: a whole mail takes ~6x as long to parse, and a test's sign-up
            # reads the outbox once a person.
            head = parser.parsebytes(data, headersonly=True)
            if head["X-Tenantry-Message"] == kind and normalize_email(str(head["To"])) == address:
                return parser.parsebytes(data)
        return None

    def wait_for(self, to: str, kind: str, timeout: float) -> EmailMessage | None:
        """:meth:`find`, asked again until ``timeout`` seconds have passed: for a mail that
        another process (a worker, a server) writes a moment later."""
        deadline = time.monotonic() + timeout
        while (found := self.find(to, kind)) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        return found

    def messages(self) -> list[EmailMessage]:
        """Every mail in the outbox, oldest first."""
        parser = BytesParser(policy=policy.default)
        return [
            parser.parsebytes(path.read_bytes()) for path in sorted(self.directory.glob("*.eml"))
        ]
