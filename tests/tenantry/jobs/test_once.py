"""A job's work recorded once per key per tenant: a job delivered again does not redo it."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenantry.context import TenantContext, tenant_scope
from tenantry.ids import TenantId, UserId
from tenantry.jobs import Jobs, once
from tests.conftest import Member
from tests.notes_app import AppNote

JOB = "test.note_once"


@pytest.fixture
def jobs(app: FastAPI) -> Jobs:
    """A job adding a note once per key; ``pause`` seconds between its look and its work,
    ``fail`` to fail after the work (the transaction is rolled back)."""
    jobs: Jobs = app.state.tenancy.jobs

    @jobs.job(JOB)
    def add_note(
        session: Session, ctx: TenantContext, *, key: str, body: str, pause: float, fail: bool
    ) -> None:
        if once.done_before(session, ctx, key) is not None:
            return
        time.sleep(pause)
        session.add(AppNote(body=body))
        session.flush()
        once.record_done(session, ctx, key, body=body)
        if fail:
            raise RuntimeError("the job failed after its work")

    return jobs


def _deliver(
    jobs: Jobs, member: Member, key: str, body: str, *, pause: float = 0.0, fail: bool = False
) -> None:
    """What a worker does with a message taken from the queue (runner's payload)."""
    jobs.run(
        {
            "id": uuid.uuid4().hex,
            "name": JOB,
            "tenant_id": member.tenant_id,
            "actor_id": member.user_id,
            "kwargs": {"key": key, "body": body, "pause": pause, "fail": fail},
        }
    )


def _ctx(member: Member) -> TenantContext:
    return TenantContext(TenantId(uuid.UUID(member.tenant_id)), UserId(member.user_id), member.role)


def _bodies(jobs: Jobs, member: Member) -> list[str]:
    with tenant_scope(_ctx(member)), jobs.db.session() as session:
        return sorted(session.scalars(select(AppNote.body)))


def _done(jobs: Jobs, member: Member, key: str) -> dict[str, Any] | None:
    with tenant_scope(_ctx(member)), jobs.db.session() as session:
        return once.done_before(session, _ctx(member), key)


def test_a_job_delivered_twice_does_its_work_once(jobs: Jobs, alice: Member) -> None:
    _deliver(jobs, alice, "k1", "first")
    _deliver(jobs, alice, "k1", "second")  # the same job again (its body told apart)
    assert _bodies(jobs, alice) == ["first"]
    assert _done(jobs, alice, "k1") == {"body": "first"}  # what the first run recorded


def test_a_key_is_once_per_tenant(jobs: Jobs, alice: Member, bob: Member) -> None:
    _deliver(jobs, alice, "k1", "alice's")
    _deliver(jobs, bob, "k1", "bob's")  # the same key in another tenant: another job
    assert _bodies(jobs, alice) == ["alice's"]
    assert _bodies(jobs, bob) == ["bob's"]
    assert _done(jobs, bob, "k2") is None


def test_a_run_that_failed_recorded_nothing_and_the_next_delivery_works(
    jobs: Jobs, alice: Member
) -> None:
    with pytest.raises(RuntimeError):
        _deliver(jobs, alice, "k1", "rolled back", fail=True)
    assert _done(jobs, alice, "k1") is None
    _deliver(jobs, alice, "k1", "second")
    assert _bodies(jobs, alice) == ["second"]


def test_two_deliveries_at_once_do_the_work_once(jobs: Jobs, alice: Member) -> None:
    """The second waits for the first (an advisory lock; SQLite's one writer), then finds
    its record: both looking before either wrote would add the note twice."""
    errors: list[BaseException] = []

    def deliver(body: str) -> None:
        try:
            _deliver(jobs, alice, "k1", body, pause=0.5)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(body,)) for body in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(_bodies(jobs, alice)) == 1


def test_a_key_too_long_for_the_record_is_refused(jobs: Jobs, alice: Member) -> None:
    with pytest.raises(ValueError, match="once-key"):
        _deliver(jobs, alice, "k" * 200, "never")
    assert _bodies(jobs, alice) == []
