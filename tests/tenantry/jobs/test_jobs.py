"""Jobs keep their tenant: they run in it, only in it, and only while tenant and actor hold."""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from tenantry.context import TenantContext
from tenantry.errors import NoTenantContext
from tenantry.jobs import JobRefused, Jobs
from tenantry.models import Membership, Tenant
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
