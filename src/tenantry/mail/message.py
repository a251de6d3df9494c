"""A mail message, the ``Mailer`` port every transport implements, and its one error."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

from tenantry.models.user import ascii_address


class MailError(Exception):
    """A transport could not hand the message over; the postman retries it."""


@dataclass(frozen=True, slots=True)
class Message:
    """One mail to one address, with a text and an HTML body (``kind`` names its template)."""

    to: str
    subject: str
    text: str
    html: str
    kind: str = ""

    def to_email(self, sender: str) -> EmailMessage:
        """The RFC 5322 message: text first, HTML as the alternative."""
        mail = EmailMessage()
        mail["From"] = sender
        mail["To"] = ascii_address(self.to)
        mail["Subject"] = self.subject
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
        if self.kind:
            mail["X-Tenantry-Message"] = self.kind
        mail.set_content(self.text)
        mail.add_alternative(self.html, subtype="html")
        return mail

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class Mailer(Protocol):
    """Hands one message to a transport, or raises :class:`MailError`."""

    def send(self, message: Message, *, sender: str) -> None: ...
