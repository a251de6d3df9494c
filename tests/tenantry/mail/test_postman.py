"""Delivery as jobs: after commit only, retried with back-off, set aside at last, never lost."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
from anyio.from_thread import start_blocking_portal
from sqlalchemy.orm import sessionmaker

from tenantry.db import Database
from tenantry.jobs import Jobs, running
from tenantry.mail import Message, Postman, SmtpMailer, send_after_commit
from tenantry.mail.postman import MAIL_JOB
from tests.support.mail import SmtpServer

ROOT = Path(__file__).resolve().parents[3]


def _message(n: int = 1) -> Message:
    return Message(to=f"u{n}@example.com", subject=f"s{n}", text="t", html="<p>h</p>", kind="k")


def _postman(
    smtp: SmtpServer, tmp_path: Path, backoff: tuple[float, ...] = (0.05, 0.05)
) -> tuple[Postman, Database]:
    """A postman on a job service with a spool and no Redis: jobs run in this process."""
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    jobs = Jobs(db, spool_dir=tmp_path / "spool")
    postman = Postman(SmtpMailer.from_url(smtp.url), sender="a@b.c", backoff=backoff)
    sessions: sessionmaker = db.sessions  # type: ignore[type-arg]
    postman.install(sessions, jobs)
    return postman, db


@contextmanager
def _service(postman: Postman) -> Iterator[None]:
    """The job service on an event loop of its own, as a server's lifespan runs it."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(running(postman.jobs, worker=True)),
    ):
        yield


def _spooled(tmp_path: Path) -> list[dict[str, object]]:
    return [orjson.loads(p.read_bytes()) for p in sorted((tmp_path / "spool").glob("*.json"))]


def test_mails_leave_after_commit_and_never_after_rollback(
    smtp: SmtpServer, tmp_path: Path
) -> None:
    postman, db = _postman(smtp, tmp_path)
    with _service(postman):
        with db.session() as session:
            send_after_commit(session, _message(1))
            assert _spooled(tmp_path) == []  # nothing before the commit
        with pytest.raises(RuntimeError), db.session() as session:
            send_after_commit(session, _message(2))
            raise RuntimeError("the request failed")
        assert postman.wait_idle()
    assert [m["To"] for m in smtp.messages()] == ["u1@example.com"]
    assert _spooled(tmp_path) == []
    db.dispose()


def test_a_refused_mail_is_retried_and_delivered(
    smtp: SmtpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    smtp.refuse = True
    postman, db = _postman(smtp, tmp_path, backoff=(0.05, 0.05, 30))
    with caplog.at_level(logging.WARNING, logger="tenantry.mail"), _service(postman):
        postman.submit([_message()])
        deadline = time.monotonic() + 10
        while "attempt 2" not in caplog.text:  # each failure is logged, then waits its turn
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.05)
        assert postman.wait_idle()
        smtp.refuse = False
    # The third attempt is 30 s away: the job waits in the spool, across a restart.
    (waiting,) = _spooled(tmp_path)
    assert waiting["name"] == MAIL_JOB
    assert waiting["kwargs"] == {"message": _message().as_dict(), "attempt": 3}
    assert smtp.messages() == []
    for path in (tmp_path / "spool").glob("*.json"):  # make it due now, as time would
        path.rename(path.with_name("0" * 20 + path.name[20:]))
    restarted, _ = _postman(smtp, tmp_path)
    with _service(restarted):
        assert restarted.wait_idle()
    assert [m["To"] for m in smtp.messages()] == ["u1@example.com"]
    assert _spooled(tmp_path) == []
    db.dispose()


def test_a_mail_sent_while_the_smtp_server_is_down_leaves_once_it_is_back(
    smtp: SmtpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    smtp.stop()
    postman, db = _postman(smtp, tmp_path, backoff=(0.2,) * 20)
    with caplog.at_level(logging.WARNING, logger="tenantry.mail"), _service(postman):
        postman.submit([_message()])
        deadline = time.monotonic() + 10
        while "attempt 2" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.05)
        smtp.start()
        deadline = time.monotonic() + 10
        while not smtp.messages():
            assert time.monotonic() < deadline, "the mail never left"
            time.sleep(0.05)
        assert postman.wait_idle()
    assert [m["To"] for m in smtp.messages()] == ["u1@example.com"]
    assert "Connection refused" in caplog.text
    db.dispose()


def test_a_mail_that_keeps_failing_is_set_aside_and_logged_as_an_error(
    smtp: SmtpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    smtp.refuse = True
    postman, db = _postman(smtp, tmp_path, backoff=(0.01, 0.01))
    with caplog.at_level(logging.ERROR, logger="tenantry.mail"), _service(postman):
        postman.submit([_message()])
        deadline = time.monotonic() + 10
        while "given up" not in caplog.text:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    (failed,) = (tmp_path / "spool" / "failed").glob("*.json")
    assert orjson.loads(failed.read_bytes())["kwargs"]["attempt"] == 3
    assert "u1@example.com" in caplog.text
    assert _spooled(tmp_path) == []
    db.dispose()


def test_a_mail_committed_with_no_job_service_waits_in_the_spool(
    smtp: SmtpServer, tmp_path: Path
) -> None:
    """A script's commit, or one after shutdown: the next service start sends it."""
    postman, db = _postman(smtp, tmp_path)
    with db.session() as session:
        send_after_commit(session, _message())
    assert len(_spooled(tmp_path)) == 1
    with _service(postman):
        assert postman.wait_idle()
    assert [m["To"] for m in smtp.messages()] == ["u1@example.com"]
    db.dispose()


CRASHING = """
import sys, time
from pathlib import Path
from anyio.from_thread import start_blocking_portal
from tenantry.db import Database
from tenantry.jobs import Jobs, running
from tenantry.mail import Message, Postman, SmtpMailer

tmp, url = Path(sys.argv[1]), sys.argv[2]
db = Database(f"sqlite:///{tmp / 'db.sqlite3'}")
jobs = Jobs(db, spool_dir=tmp / "spool")
postman = Postman(SmtpMailer.from_url(url), sender="a@b.c")
postman.install(db.sessions, jobs)
with start_blocking_portal() as portal, portal.wrap_async_context_manager(
    running(jobs, worker=True)
):
    postman.submit([Message(to="u1@example.com", subject="s", text="t", html="h", kind="k")])
    time.sleep(60)  # killed meanwhile, in the middle of the send
"""


def test_a_process_killed_in_the_middle_of_a_send_loses_no_mail(
    smtp: SmtpServer, tmp_path: Path
) -> None:
    smtp.hold.clear()  # the server takes the mail and does not answer yet
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CRASHING), str(tmp_path), smtp.url],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"},
    )
    try:
        assert smtp.waiting.wait(timeout=30), "the mail job never started"
    finally:
        proc.kill()
        proc.wait()
    smtp.hold.set()  # the killed process never heard back: for it, nothing was sent
    assert len(_spooled(tmp_path)) == 1
    postman, db = _postman(smtp, tmp_path)
    with _service(postman):
        assert postman.wait_idle()
    assert [m["To"] for m in smtp.messages()] == ["u1@example.com"]
    db.dispose()
