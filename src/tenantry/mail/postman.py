"""Delivery: mails leave after the transaction commits, wait in a spool folder, and are retried.

A request queues its mails on the session (:func:`send_after_commit`); once the
transaction has committed they are written to the spool and a background thread
hands them to the mailer, so no transaction is ever open during a send and a
rolled-back request sends nothing. A failed send is logged and retried with
exponential back-off; after the last attempt the mail moves to ``failed/`` with an
error in the log. Mails still in the spool when the process stops are sent by the
next one. (The jobs queue can take this over when it lands; the spool stays the
simple default.)
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from tenantry.mail.message import Mailer, MailError, Message

log = logging.getLogger("tenantry.mail")
_PENDING = "tenantry.mail.pending"
# Seconds to wait before attempt 2, 3, ...: about a day in all, then the mail is set aside.
BACKOFF: tuple[float, ...] = (2, 10, 60, 300, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600)


def send_after_commit(session: Session, message: Message) -> None:
    """Queue ``message`` to leave when ``session`` commits (never if it rolls back)."""
    session.info.setdefault(_PENDING, []).append(message)


class Postman:
    """Spools and delivers mails from one background thread, with retries.

    Args:
        mailer: the transport (SMTP or the outbox folder).
        spool: a folder of its own for mails not yet delivered.
        sender: the ``From`` of every mail.
        backoff: seconds before each retry; its length is the number of retries.
    """

    def __init__(
        self,
        mailer: Mailer,
        spool: Path,
        *,
        sender: str,
        backoff: Sequence[float] = BACKOFF,
    ) -> None:
        self.mailer = mailer
        self.spool = spool
        self.sender = sender
        self.backoff = tuple(backoff)
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._busy = False
        if any(spool.glob("*.json")):  # left over by a previous process
            self._start()

    @classmethod
    def outbox(cls, directory: Path, *, sender: str = "tenantry <no-reply@localhost>") -> Postman:
        """Mails as ``.eml`` files in ``directory`` (its spool is ``directory/.spool``)."""
        from tenantry.mail.outbox import OutboxMailer

        return cls(OutboxMailer(directory), directory / ".spool", sender=sender)

    def install(self, sessions: sessionmaker[Session]) -> None:
        """Deliver the mails queued on ``sessions``' sessions when they commit."""
        event.listen(sessions, "after_commit", self._committed)
        event.listen(sessions, "after_rollback", _forget)

    def _committed(self, session: Session) -> None:
        messages: list[Message] = session.info.pop(_PENDING, [])
        if messages:
            self.submit(messages)

    def submit(self, messages: Sequence[Message]) -> None:
        """Write ``messages`` to the spool and wake the delivery thread."""
        self.spool.mkdir(parents=True, exist_ok=True)
        for message in messages:
            item = {"message": message.as_dict(), "attempts": 0, "due": 0.0}
            self._write(self.spool / f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.json", item)
        self._start()
        with self._wake:
            self._wake.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is due (tests, shutdown); True when idle in time."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._busy or self._due():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(min(left, 0.05))
        return True

    def close(self) -> None:
        """Stop the thread; undelivered mails stay in the spool for the next start."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _start(self) -> None:
        with self._wake:
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(
                    target=self._run, name="tenantry-postman", daemon=True
                )
                self._thread.start()

    def _items(self) -> list[Path]:
        return sorted(self.spool.glob("*.json")) if self.spool.exists() else []

    def _due(self) -> list[Path]:
        now = time.time()
        return [p for p in self._items() if _read(p).get("due", 0) <= now]

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                due = self._due()
                if not due:
                    later = [float(_read(p).get("due", 0)) for p in self._items()]
                    wait = max(0.05, min(later) - time.time()) if later else 60.0
                    self._wake.wait(wait)
                    continue
                self._busy = True
            try:
                for path in due:
                    self._deliver(path)
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()

    def _deliver(self, path: Path) -> None:
        item = _read(path)
        if not item:
            return
        message = Message(**item["message"])
        try:
            self.mailer.send(message, sender=self.sender)
        except MailError as exc:
            attempts = int(item["attempts"]) + 1
            if attempts > len(self.backoff):
                failed = self.spool / "failed"
                failed.mkdir(exist_ok=True)
                path.rename(failed / path.name)
                log.error(
                    "mail %r to %s given up after %d attempts, kept in %s: %s",
                    message.kind,
                    message.to,
                    attempts,
                    failed,
                    exc,
                )
                return
            delay = self.backoff[attempts - 1]
            log.warning(
                "mail %r to %s failed (attempt %d), retrying in %.0f s: %s",
                message.kind,
                message.to,
                attempts,
                delay,
                exc,
            )
            self._write(path, {**item, "attempts": attempts, "due": time.time() + delay})
            return
        path.unlink(missing_ok=True)
        log.info("mail %r sent to %s", message.kind, message.to)

    @staticmethod
    def _write(path: Path, item: dict[str, Any]) -> None:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(item))
        temporary.replace(path)


def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _read(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data
