"""The spool: jobs wait there for their time, and two services sharing it run each one once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from anyio.from_thread import start_blocking_portal
from sqlalchemy.orm import Session

from tenantry.db import Database
from tenantry.jobs import Jobs, running


@contextmanager
def _services(*all_jobs: Jobs) -> Iterator[None]:
    """Each job service on an event loop of its own, as separate processes run them."""
    with ExitStack() as stack:
        for jobs in all_jobs:
            portal = stack.enter_context(start_blocking_portal())
            stack.enter_context(portal.wrap_async_context_manager(running(jobs, worker=True)))
        yield


def _counting(db: Database, spool: Path, seen: list[int]) -> Jobs:
    jobs = Jobs(db, spool_dir=spool)
    lock = threading.Lock()

    @jobs.platform_job("test.count")
    def count(session: Session, *, n: int) -> None:
        with lock:
            seen.append(n)

    return jobs


def test_two_services_sharing_a_spool_run_each_job_once(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    seen: list[int] = []
    first, second = (_counting(db, tmp_path / "spool", seen) for _ in range(2))
    for n in range(80):  # no service runs yet: they wait in the spool (more than one batch)
        first.submit_platform("test.count", n=n)
    assert len(list((tmp_path / "spool").glob("*.json"))) == 80
    with _services(first, second):
        assert first.wait_idle() and second.wait_idle()
    assert sorted(seen) == list(range(80))
    assert not list((tmp_path / "spool").glob("*.json"))
    db.dispose()


def test_a_job_for_later_waits_for_its_time(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    seen: list[int] = []
    jobs = _counting(db, tmp_path / "spool", seen)
    with _services(jobs):
        jobs.later("test.count", 1.5, n=1)
        jobs.submit_platform("test.count", n=0)
        assert jobs.wait_idle()  # the later one is not due: idle all the same
        assert seen == [0]
        deadline = time.monotonic() + 10
        while seen != [0, 1]:
            assert time.monotonic() < deadline, seen
            time.sleep(0.05)
    db.dispose()
