"""The shared queue: a running job is never handed to a second worker, a dead worker's
job is claimed again even when no other job arrives, and a job that ended while Redis was
away is acknowledged once it returns, not run again."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis as redis_py
from fastapi import FastAPI
from sqlalchemy.orm import Session

from tenantry.jobs import Jobs, broker
from tenantry.jobs.service import running
from tests.support.redis import RedisServer

pytestmark = pytest.mark.redis


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch, redis: RedisServer) -> None:
    """Seconds instead of a minute: idle after 1 s, renewed every 0.2 s, claimed every 0.2 s."""
    redis.flush()
    monkeypatch.setattr(broker, "IDLE_MS", 1_000)
    monkeypatch.setattr(broker, "RENEW_EVERY_S", 0.2)
    monkeypatch.setattr(broker, "CLAIM_EVERY_S", 0.2)


def _jobs(app: FastAPI, redis: RedisServer, runs: list[str], name: str, seconds: float) -> Jobs:
    jobs = Jobs(app.state.tenancy.db, redis_url=redis.url, queue="test:broker")

    def slow(session: Session) -> None:
        runs.append(name)
        time.sleep(seconds)

    jobs.platform_job("test.slow")(slow)
    jobs.platform_job("test.nothing")(lambda session: None)
    return jobs


@pytest.mark.usefixtures("quick")
def test_a_job_running_past_the_idle_time_is_not_run_by_another_worker(
    app: FastAPI, redis: RedisServer
) -> None:
    runs: list[str] = []
    first = _jobs(app, redis, runs, "first", seconds=3.0)
    second = _jobs(app, redis, runs, "second", seconds=3.0)

    async def scenario() -> None:
        async with running(first, worker=True):
            await first.enqueue_platform("test.slow")
            while not runs:
                await asyncio.sleep(0.05)
            async with running(second, worker=True):
                # Three idle times pass while the first worker runs the job; new messages
                # arrive meanwhile (taskiq's own listener claimed by idle time after them).
                for _ in range(12):
                    await second.enqueue_platform("test.nothing")
                    await asyncio.sleep(0.25)

    asyncio.run(scenario())
    assert runs == ["first"]


@pytest.mark.usefixtures("quick")
def test_a_stopped_worker_s_job_is_claimed_with_no_other_job_queued(
    app: FastAPI, redis: RedisServer
) -> None:
    runs: list[str] = []
    worker = _jobs(app, redis, runs, "worker", seconds=0.0)
    done = threading.Event()

    async def scenario() -> None:
        async with running(worker, worker=False):  # the group, not a consumer
            await worker.enqueue_platform("test.slow")
        # A worker that took the message and died: it is pending, never acknowledged.
        client = redis_client(redis)
        taken = client.xreadgroup("test:broker:workers", "dead", {"test:broker": ">"}, count=1)
        assert taken and len(taken[0][1]) == 1
        async with running(worker, worker=True):
            deadline = time.monotonic() + 10
            while not runs and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        done.set()

    asyncio.run(scenario())
    assert done.is_set()
    assert runs == ["worker"]


@pytest.mark.usefixtures("quick")
def test_a_job_that_ends_while_redis_is_away_is_acknowledged_when_it_returns(
    app: FastAPI, redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One XACK, not retried, left the message pending once Redis was back: claimed as
    abandoned a minute later, the job ran a second time (a background import applied twice)."""
    monkeypatch.setattr(broker, "IDLE_MS", 3_000)  # claimed 3 s after its last renewal
    monkeypatch.setattr(broker, "ACK_WAIT_MAX_S", 0.2)
    runs: list[str] = []
    away = threading.Event()
    jobs = Jobs(app.state.tenancy.db, redis_url=redis.url, queue="test:broker")

    def outage(session: Session) -> None:
        runs.append("ran")
        if not away.is_set():  # Redis stops, saving its data: the message stays pending
            redis_client(redis).shutdown(save=True)
            assert redis.proc is not None
            redis.proc.wait()
            redis.proc = None
            away.set()

    jobs.platform_job("test.outage")(outage)

    async def scenario() -> None:
        async with running(jobs, worker=True):
            await jobs.enqueue_platform("test.outage")
            while not away.is_set():
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.5)  # the job has ended; its acknowledgement fails
            await asyncio.to_thread(redis.start)  # the same data back, the message pending
            await asyncio.sleep(5.0)  # past the idle time: an unacknowledged job runs again

    try:
        asyncio.run(scenario())
    finally:
        (redis.directory / "dump.rdb").unlink(missing_ok=True)  # no later start loads it
    pending = redis_client(redis).xpending("test:broker", "test:broker:workers")
    assert pending["pending"] == 0
    assert runs == ["ran"]


def redis_client(server: RedisServer) -> redis_py.Redis:
    return redis_py.Redis.from_url(server.url)


def test_a_worker_starts_while_redis_is_unreachable(app: FastAPI) -> None:
    """Its listener waits for Redis; a restart during an outage does not stop the process."""
    jobs = Jobs(app.state.tenancy.db, redis_url="redis://127.0.0.1:1/0", queue="test:broker")

    async def scenario() -> None:
        async with running(jobs, worker=True):
            await asyncio.sleep(1.5)  # the listener retries meanwhile

    asyncio.run(scenario())
