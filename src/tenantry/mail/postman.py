"""Delivery: mails leave after the transaction commits, as jobs, and are retried with back-off.

A request queues its mails on the session (:func:`send_after_commit`); once the
transaction has committed each one becomes a platform job, ``tenantry.mail``,
which whichever process takes it sends (with Redis: any worker; without: this
process). No transaction is ever open during a send, and a rolled-back request
sends nothing. A failed send is logged and the job queued again for later
(exponential back-off, about a day in all); after the last attempt the mail is
set aside in the spool's ``failed/`` with an error in the log.

Mails are platform jobs, not tenant jobs: they are composed (and their
recipients chosen) inside the transaction that caused them, so sending needs no
tenant data, and a tenant job's re-check would drop the very mails a change of
membership causes (``member_left`` is sent once the actor is no longer a member).

Jobs run at least once: a process killed after the send but before the job is
marked done sends the mail again at its next run. A duplicate is possible; a
loss is not.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from tenantry.hooks import SessionFactory, listen
from tenantry.mail.message import Mailer, MailError, Message

if TYPE_CHECKING:
    from tenantry.jobs import Jobs

log = logging.getLogger("tenantry.mail")
_PENDING = "tenantry.mail.pending"
MAIL_JOB = "tenantry.mail"
# Seconds to wait before attempt 2, 3, ...: about a day in all, then the mail is set aside.
BACKOFF: tuple[float, ...] = (2, 10, 60, 300, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600)


def send_after_commit(session: Session, message: Message) -> None:
    """Queue ``message`` to leave when ``session`` commits (never if it rolls back)."""
    session.info.setdefault(_PENDING, []).append(message)


class Postman:
    """Turns committed mails into jobs and sends them when a job service runs the job.

    Args:
        mailer: the transport (SMTP or the outbox folder).
        sender: the ``From`` of every mail.
        backoff: seconds before each retry; its length is the number of retries.
    """

    def __init__(self, mailer: Mailer, *, sender: str, backoff: Sequence[float] = BACKOFF) -> None:
        self.mailer = mailer
        self.sender = sender
        self.backoff = tuple(backoff)
        self._jobs: Jobs | None = None

    @classmethod
    def outbox(cls, directory: Path, *, sender: str = "tenantry <no-reply@localhost>") -> Postman:
        """Mails as ``.eml`` files in ``directory``."""
        from tenantry.mail.outbox import OutboxMailer

        return cls(OutboxMailer(directory), sender=sender)

    @property
    def jobs(self) -> Jobs:
        if self._jobs is None:
            raise RuntimeError("the postman is not installed: Postman.install(sessions, jobs)")
        return self._jobs

    def install(self, sessions: SessionFactory, jobs: Jobs) -> None:
        """Send the mails queued on ``sessions``' sessions through ``jobs`` when they commit.

        ``jobs`` needs a spool: a mail waits there for its next attempt.
        """
        if jobs.spool is None:
            raise ValueError("mail retries wait in the jobs' spool: give Jobs a spool_dir")
        self._jobs = jobs
        jobs.platform_job(MAIL_JOB)(self.deliver)
        listen(sessions, "after_commit", self._committed)
        listen(sessions, "after_rollback", _forget)

    def _committed(self, session: Session) -> None:
        messages: list[Message] = session.info.pop(_PENDING, [])
        if messages:
            self.submit(messages)

    def submit(self, messages: Sequence[Message]) -> None:
        """Queue ``messages`` to be sent now (outside any transaction)."""
        for message in messages:
            self.jobs.submit_platform(MAIL_JOB, message=message.as_dict())

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until this process has no mail (nor other job) left to hand over or send
        now (tests, scripts); True when idle in time."""
        return self.jobs.wait_idle(timeout)

    def deliver(self, session: Session, *, message: dict[str, Any], attempt: int = 1) -> None:
        """The mail job: one attempt to send ``message``; a failure queues the next one."""
        mail = Message(**message)
        try:
            self.mailer.send(mail, sender=self.sender)
        except MailError as exc:
            if attempt > len(self.backoff):
                kept = self.jobs.set_aside(MAIL_JOB, message=message, attempt=attempt)
                log.error(
                    "mail %r to %s given up after %d attempts, kept in %s: %s",
                    mail.kind,
                    mail.to,
                    attempt,
                    kept,
                    exc,
                )
                return
            delay = self.backoff[attempt - 1]
            log.warning(
                "mail %r to %s failed (attempt %d), retrying in %.0f s: %s",
                mail.kind,
                mail.to,
                attempt,
                delay,
                exc,
            )
            self.jobs.later(MAIL_JOB, delay, message=message, attempt=attempt + 1)
            return
        except Exception:  # not the transport: another attempt would fail the same way
            kept = self.jobs.set_aside(MAIL_JOB, message=message, attempt=attempt)
            log.exception("mail %r to %s cannot be sent, kept in %s", mail.kind, mail.to, kept)
            return
        log.info("mail %r sent to %s", mail.kind, mail.to)


def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
