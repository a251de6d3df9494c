"""Delivery: after commit only, retried with back-off when the server refuses, never lost."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker

from tenantry.db import Database
from tenantry.mail import Message, Postman, SmtpMailer, send_after_commit
from tests.support.mail import SmtpServer


def _message(n: int = 1) -> Message:
    return Message(to=f"u{n}@example.com", subject=f"s{n}", text="t", html="<p>h</p>", kind="k")


def _postman(smtp: SmtpServer, spool: Path, backoff: tuple[float, ...] = (0.05, 0.05)) -> Postman:
    return Postman(SmtpMailer.from_url(smtp.url), spool, sender="a@b.c", backoff=backoff)


def test_mails_leave_after_commit_and_never_after_rollback(
    smtp: SmtpServer, tmp_path: Path
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    postman = _postman(smtp, tmp_path / "spool")
    sessions: sessionmaker = db.sessions  # type: ignore[type-arg]
    postman.install(sessions)
    with db.session() as session:
        send_after_commit(session, _message(1))
        assert not list((tmp_path / "spool").glob("*.json"))  # nothing before the commit
    with pytest.raises(RuntimeError), db.session() as session:
        send_after_commit(session, _message(2))
        raise RuntimeError("the request failed")
    assert postman.wait_idle()
    assert [m["To"] for m in smtp.messages()] == ["u1@example.com"]
    postman.close()
    db.dispose()


def test_a_refused_mail_is_retried_and_delivered(
    smtp: SmtpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    smtp.refuse = True
    postman = _postman(smtp, tmp_path / "spool", backoff=(0.05, 0.05, 30))
    with caplog.at_level(logging.WARNING, logger="tenantry.mail"):
        postman.submit([_message()])
        while "attempt 2" not in caplog.text:
            assert postman.wait_idle(timeout=5)  # each failure is logged, then waits its turn
        smtp.refuse = False
        # the third attempt is 30 s away: it stays in the spool until then
        assert len(list((tmp_path / "spool").glob("*.json"))) == 1
    postman.close()
    # A new process (a restart) finds it in the spool and sends it.
    restarted = _postman(smtp, tmp_path / "spool", backoff=(0.05,))
    for path in (tmp_path / "spool").glob("*.json"):  # make it due now, as time would
        path.write_text(path.read_text().replace('"due": ', '"due": 0, "was": '))
    restarted.submit([])
    assert restarted.wait_idle()
    assert [m["To"] for m in smtp.messages()] == ["u1@example.com"]
    assert not list((tmp_path / "spool").glob("*.json"))
    restarted.close()


def test_a_mail_that_keeps_failing_is_kept_and_logged_as_an_error(
    smtp: SmtpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    smtp.refuse = True
    postman = _postman(smtp, tmp_path / "spool", backoff=(0.01, 0.01))
    with caplog.at_level(logging.ERROR, logger="tenantry.mail"):
        postman.submit([_message()])
        while "given up" not in caplog.text:
            assert postman.wait_idle(timeout=5)
    assert len(list((tmp_path / "spool" / "failed").glob("*.json"))) == 1
    assert "u1@example.com" in caplog.text
    postman.close()
