"""Platform jobs run with no tenant, and periodic ones are queued once per period in all."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tenantry.errors import NoTenantContext
from tenantry.jobs import Jobs
from tenantry.models import Tenant
from tenantry.web.tenancy import PURGE_JOB
from tests.conftest import Member
from tests.notes_app import AppNote
from tests.support.redis import RedisServer


def _platform(name: str) -> dict[str, object]:
    return {"id": uuid.uuid4().hex, "name": name, "tenant_id": None, "kwargs": {}}


def test_a_platform_job_reads_no_tenant_table(app: FastAPI, alice: Member) -> None:
    jobs: Jobs = app.state.tenancy.jobs
    seen: list[int] = []

    @jobs.platform_job("test.peek")
    def peek(session: Session) -> None:
        seen.append(len(session.scalars(select(Tenant)).all()))  # control table: allowed
        session.scalars(select(AppNote)).all()  # tenant table, no tenant: refused

    with pytest.raises(NoTenantContext):
        jobs.run(_platform("test.peek"))
    assert seen == [1]


def test_the_periodic_purge_removes_a_tenant_past_its_grace(
    app: FastAPI, client: TestClient, alice: Member, bob: Member
) -> None:
    slug = client.get("/api/tenant", headers=alice.headers).json()["slug"]
    assert client.delete(f"/api/tenant?confirm={slug}", headers=alice.headers).status_code == 204
    jobs: Jobs = app.state.tenancy.jobs
    alice_id, bob_id = uuid.UUID(alice.tenant_id), uuid.UUID(bob.tenant_id)
    with jobs.db.session() as session:  # the grace period is over
        session.execute(
            update(Tenant)
            .where(Tenant.id == alice_id)
            .values(purge_after=datetime.now(UTC) - timedelta(minutes=1))
        )
    # The server's worker queued this period's purge at start-up, before anything was due:
    # a second look queues nothing until the next period; the job itself is what it runs.
    assert client.portal.call(jobs.queue_due) == []  # type: ignore[union-attr]
    client.portal.call(jobs.enqueue_platform, PURGE_JOB)  # type: ignore[union-attr]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with jobs.db.session() as session:
            if session.get(Tenant, alice_id) is None:
                break
        time.sleep(0.05)
    with jobs.db.session() as session:
        assert session.get(Tenant, alice_id) is None
        assert session.get(Tenant, bob_id) is not None  # active tenants are left alone


@pytest.mark.redis
def test_periodic_jobs_are_queued_once_by_all_processes(app: FastAPI, redis: RedisServer) -> None:
    """Two processes' queues on one Redis: the first to look queues the purge, not both.

    The second reaches it through its unix socket (redis-py's ``unix://``, which ``limits``
    spells ``redis+unix://``)."""
    db = app.state.tenancy.db
    first, second = Jobs(db, redis_url=redis.url), Jobs(db, redis_url=redis.socket_url)
    for jobs in (first, second):
        jobs.platform_job("test.tick", every=3600)(lambda session: None)

    async def look(jobs: Jobs) -> list[str]:
        await jobs.startup()
        try:
            return await jobs.queue_due()
        finally:
            await jobs.shutdown()

    assert asyncio.run(look(first)) == ["test.tick"]
    assert asyncio.run(look(second)) == []
    redis.flush()  # a new period (the window's key is gone): one of them queues it again
    assert asyncio.run(look(second)) == ["test.tick"]
