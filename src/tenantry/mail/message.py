"""A mail message, the ``Mailer`` port every transport implements, and its one error."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

from tenantry.models.user import ascii_address


class MailError(Exception):
    """A transport could not hand the message over; the postman retries it."""


class HeaderError(ValueError):
    """A header would not say what was put in it (a line break, another address): the
    message is not sent. Not a :class:`MailError`: another attempt would fail the same way."""


# Control characters (C0, DEL, C1: tab, CR, LF, NEL...) and Unicode's line and paragraph
# separators: none belongs in a header, and the email package refuses or writes some raw.
_NOT_IN_HEADER = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# A line break the folding did not make: one not followed by the space that continues a header.
_NEW_LINE = re.compile(r"\r|\n(?![ \t])")
# Between "=" and "?", so that no RFC 2047 encoded-word opens; invisible where it shows.
_WORD_JOINER = "\u2060"


def literal_header_text(text: str) -> str:
    """``text`` (a subject holding names people chose) as a header shows it literally.

    The email package decodes every RFC 2047 encoded-word it finds in a value it is
    given, anywhere in a word: a household named ``=?utf-8?q?Hi=0AReply-To=3A_x?=`` put
    a line feed into the Subject it wrote, and so headers and a body of its choosing into
    the mail. A word joiner after each ``=`` that a ``?`` follows leaves no ``=?`` to open
    one (the header is then written as an encoded-word of that literal text); a control
    character or line separator becomes a space.
    """
    return _NOT_IN_HEADER.sub(" ", text).replace("=?", "=" + _WORD_JOINER + "?")


@dataclass(frozen=True, slots=True)
class Message:
    """One mail to one address, with a text and an HTML body (``kind`` names its template)."""

    to: str
    subject: str
    text: str
    html: str
    kind: str = ""

    def to_email(self, sender: str) -> EmailMessage:
        """The RFC 5322 message: text first, HTML as the alternative.

        Raises:
            HeaderError: a header would hold a line break or a control character, or the
                recipient's address would be read as another one.
        """
        mail = EmailMessage()
        mail["From"] = sender
        to = ascii_address(self.to)
        mail["To"] = to
        # An address cannot be quoted against the decoding: ``=?utf-8?q?bob?=@x.org`` is a
        # valid address whose header reads bob@x.org, where smtplib would send it.
        if [a.addr_spec for a in mail["To"].addresses] != [to]:
            raise HeaderError(f"the address {to!r} does not survive a mail header")
        mail["Subject"] = literal_header_text(self.subject)
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
        if self.kind:
            mail["X-Tenantry-Message"] = self.kind
        _check_headers(mail)
        mail.set_content(self.text)
        mail.add_alternative(self.html, subtype="html")
        return mail

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _check_headers(mail: EmailMessage) -> None:
    """The last wall: no header's value, nor the lines written for it, may break a line."""
    for name, value in mail.items():
        written = mail.policy.fold(name, value).removesuffix(mail.policy.linesep)
        if _NOT_IN_HEADER.search(str(value)) or _NEW_LINE.search(written):
            raise HeaderError(f"the {name} header would break a line: {written!r}")


class Mailer(Protocol):
    """Hands one message to a transport, or raises :class:`MailError`."""

    def send(self, message: Message, *, sender: str) -> None: ...
