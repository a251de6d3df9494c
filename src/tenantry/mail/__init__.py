"""Mail: a small port (``Mailer``), SMTP and outbox-directory implementations, the messages."""

from tenantry.mail.message import HeaderError, Mailer, MailError, Message
from tenantry.mail.outbox import OutboxMailer
from tenantry.mail.postman import Postman, send_after_commit
from tenantry.mail.smtp import SmtpMailer, mailer_from_url

__all__ = [
    "HeaderError",
    "MailError",
    "Mailer",
    "Message",
    "OutboxMailer",
    "Postman",
    "SmtpMailer",
    "mailer_from_url",
    "send_after_commit",
]
