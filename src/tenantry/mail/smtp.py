"""The SMTP mailer (standard library ``smtplib``), configured by one URL.

``smtp://user:password@host:587?starttls=true`` (STARTTLS), ``smtps://host:465`` (TLS from
the first byte), ``smtp://localhost:1025`` (plain, a local relay). Query options:
``starttls``, ``timeout`` (seconds) and ``cafile`` (a private CA to trust).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from tenantry.mail.message import MailError, Message
from tenantry.mail.outbox import OutboxMailer

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class SmtpMailer:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0
    cafile: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpMailer:
        """Parse ``smtp://`` or ``smtps://`` URLs.

        Raises:
            ValueError: another scheme, no host, or an option that cannot be read.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("the SMTP URL must look like smtp://host:port or smtps://host:port")
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(options) - {"starttls", "timeout", "cafile"})
        if unknown:
            known = "starttls, timeout, cafile"
            raise ValueError(f"the SMTP URL has no option {unknown[0]!r} ({known})")
        flag = options.get("starttls", "false").lower()
        if flag not in _TRUE | _FALSE:
            raise ValueError(f"starttls= is true or false in the SMTP URL, not {flag!r}")
        implicit = parts.scheme == "smtps"
        starttls = flag in _TRUE
        default_port = 465 if implicit else (587 if starttls else 25)
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            implicit_tls=implicit,
            starttls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout=float(options.get("timeout", "10")),
            cafile=options.get("cafile"),
        )

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)

    def send(self, message: Message, *, sender: str) -> None:
        mail = message.to_email(sender)
        try:
            client: smtplib.SMTP
            if self.implicit_tls:
                client = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._context()
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.starttls:
                    client.starttls(context=self._context())
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"SMTP {self.host}:{self.port}: {exc}") from exc


def mailer_from_url(url: str | None, outbox: Path) -> SmtpMailer | OutboxMailer:
    """SMTP when a URL is configured, else the outbox directory."""
    return SmtpMailer.from_url(url) if url else OutboxMailer(outbox)
