"""Jobs keep their tenant: they run in it, only in it, and only while tenant and actor hold."""

from __future__ import annotations

import time
import uuid
from functools import partial
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tenantry.context import TenantContext
from tenantry.errors import NoTenantContext
from tenantry.ids import TenantId, UserId
from tenantry.jobs import JobRefused, Jobs, runner
from tenantry.models import Membership, Tenant
from tenantry.roles import Role
from tenantry.scoping import unscoped
from tests.conftest import Member
from tests.notes_app import AppNote


def _notes(client: TestClient, member: Member) -> list[str]:
    return [n["body"] for n in client.get("/api/notes", headers=member.headers).json()]


def _wait_for(client: TestClient, member: Member, body: str) -> list[str]:
    deadline = time.monotonic() + 10
    while body not in (notes := _notes(client, member)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return notes


def test_a_job_runs_in_its_own_tenant_only(client: TestClient, alice: Member, bob: Member) -> None:
    answer = client.post("/api/notes/later", json={"body": "from a job"}, headers=alice.headers)
    assert answer.status_code == 202
    assert "from a job" in _wait_for(client, alice, "from a job")
    assert _notes(client, bob) == []


def _payload(member: Member, body: str) -> dict[str, object]:
    return {
        "id": uuid.uuid4().hex,
        "name": "notes.add",
        "tenant_id": member.tenant_id,
        "actor_id": member.user_id,
        "kwargs": {"body": body},
    }


def _count(jobs: Jobs, body: str) -> int:
    with jobs.db.session() as session, unscoped(session, reason="test: count job output"):
        return len(session.scalars(select(AppNote).where(AppNote.body == body)).all())


def test_a_job_of_a_suspended_tenant_is_refused(app: FastAPI, alice: Member) -> None:
    jobs: Jobs = app.state.tenancy.jobs
    with jobs.db.session() as session:
        session.execute(
            update(Tenant).where(Tenant.id == uuid.UUID(alice.tenant_id)).values(status="suspended")
        )
    with pytest.raises(JobRefused):
        jobs.run(_payload(alice, "never"))
    assert _count(jobs, "never") == 0


def test_a_job_whose_actor_left_is_refused(app: FastAPI, alice: Member) -> None:
    jobs: Jobs = app.state.tenancy.jobs
    with jobs.db.session() as session:
        session.execute(delete(Membership).where(Membership.user_id == alice.user_id))
    with pytest.raises(JobRefused):
        jobs.run(_payload(alice, "never"))
    assert _count(jobs, "never") == 0


def test_a_job_cannot_write_into_another_tenant(app: FastAPI, alice: Member, bob: Member) -> None:
    jobs: Jobs = app.state.tenancy.jobs

    @jobs.job("test.cross")
    def cross(session: object, ctx: TenantContext, *, victim: str) -> None:
        session.add(AppNote(body="planted", tenant_id=uuid.UUID(victim)))  # type: ignore[attr-defined]

    payload = {**_payload(alice, ""), "name": "test.cross", "kwargs": {"victim": bob.tenant_id}}
    with pytest.raises(Exception, match="another tenant"):
        jobs.run(payload)
    assert _count(jobs, "planted") == 0


def test_job_code_outside_a_job_has_no_tenant(app: FastAPI) -> None:
    jobs: Jobs = app.state.tenancy.jobs
    with jobs.db.session() as session, pytest.raises(NoTenantContext):
        session.scalars(select(AppNote)).all()


def test_a_job_for_a_tenant_that_does_not_exist_is_refused(app: FastAPI, alice: Member) -> None:
    jobs: Jobs = app.state.tenancy.jobs
    with pytest.raises(JobRefused):
        jobs.run({**_payload(alice, "never"), "tenant_id": str(uuid.uuid4())})


def test_a_job_failing_on_the_database_runs_again_and_one_failing_for_good_says_so(
    client: TestClient, app: FastAPI, alice: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job that raised was acknowledged and dropped: a CSV import hitting a locked
    database stayed "queued" for ever, its rows never written."""
    monkeypatch.setattr(runner, "RETRY_WAITS", (0.01, 0.01))
    jobs: Jobs = app.state.tenancy.jobs
    runs: list[str] = []
    reported: list[tuple[str, str, str]] = []

    def report(ctx: TenantContext, kwargs: dict[str, Any], message: str) -> None:
        reported.append((str(ctx.tenant_id), kwargs["body"], message))

    @jobs.job("test.flaky", on_failure=report)
    def flaky(session: Session, ctx: TenantContext, *, body: str, failures: int) -> None:
        runs.append(body)
        if runs.count(body) <= failures:  # the database fails it (an OperationalError)
            postgres = session.get_bind().dialect.name == "postgresql"
            # PostgreSQL: the connection is lost (as in a restart); SQLite: refused.
            sql = "SELECT pg_terminate_backend(pg_backend_pid())" if postgres else "SELECT * FROM x"
            session.execute(text(sql))
        session.add(AppNote(body=body, tenant_id=ctx.tenant_id))

    ctx = TenantContext(TenantId(uuid.UUID(alice.tenant_id)), UserId(alice.user_id), Role.OWNER)
    client.portal.call(partial(jobs.enqueue, "test.flaky", ctx, body="third time", failures=2))
    assert "third time" in _wait_for(client, alice, "third time")
    assert runs.count("third time") == 3 and reported == []
    client.portal.call(partial(jobs.enqueue, "test.flaky", ctx, body="never", failures=99))
    deadline = time.monotonic() + 10
    while not reported and time.monotonic() < deadline:
        time.sleep(0.02)
    failed = runner._failure_message(OperationalError("", {}, Exception()))
    assert reported == [(alice.tenant_id, "never", failed)]
    assert runs.count("never") == 3  # the first run and one for each wait
    assert _count(jobs, "never") == 0
    # Any other error is not tried again: it fails for good at once.

    @jobs.job("test.broken", on_failure=report)
    def broken(session: Session, ctx: TenantContext, *, body: str) -> None:
        runs.append(body)
        raise ValueError(body)

    client.portal.call(partial(jobs.enqueue, "test.broken", ctx, body="broken"))
    deadline = time.monotonic() + 10
    while len(reported) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert reported[1] == (alice.tenant_id, "broken", "it failed (ValueError)")
    assert runs.count("broken") == 1
