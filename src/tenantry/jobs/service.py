"""Running the queue beside an application: the broker, an optional worker, the spool drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from taskiq.api import run_receiver_task

from tenantry.jobs.runner import Jobs

log = logging.getLogger("tenantry.jobs")

SPOOL_INTERVAL = 1.0  # seconds between looks at the spool (a job put in it wakes it sooner)
SCHEDULE_TICK = 30.0  # seconds between looks at the periodic jobs
SETTLE_SECONDS = 10.0  # how long a stopping process lets its running jobs finish


async def _drain_forever(jobs: Jobs) -> None:
    while True:
        try:
            sent = await jobs.drain_spool()
        except Exception:  # a spool that cannot be read now may be readable next time
            log.exception("spooled jobs not queued")
            sent = 0
        if sent and jobs.shared:
            log.info("queued %d spooled jobs", sent)
        await jobs.nap(SPOOL_INTERVAL)


async def _schedule_forever(jobs: Jobs) -> None:
    while True:
        try:
            await jobs.queue_due()
        except Exception:  # the queue is down: the spool or the next tick takes it
            log.exception("periodic jobs not queued")
        await asyncio.sleep(SCHEDULE_TICK)


@asynccontextmanager
async def running(jobs: Jobs, *, worker: bool) -> AsyncIterator[None]:
    """Start the broker (and, with ``worker``, consume jobs in this process) for the block.

    Without Redis each job runs in this process as it is queued (from the spool,
    when there is one), so ``worker`` only matters for a shared queue. Workers also
    queue the periodic platform jobs (once per period among all of them). On the
    way out, jobs running here get a few seconds to finish.
    """
    await jobs.startup()
    tasks: list[asyncio.Task[None]] = []
    if jobs.spool is not None:
        tasks.append(asyncio.create_task(_drain_forever(jobs)))
    if worker and jobs.shared:
        tasks.append(asyncio.create_task(run_receiver_task(jobs.broker, max_async_tasks=4)))
    if worker and jobs.periodic:
        tasks.append(asyncio.create_task(_schedule_forever(jobs)))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await jobs.settle(SETTLE_SECONDS)
        await jobs.shutdown()


async def work(jobs: Jobs) -> None:
    """Consume jobs until cancelled: ``tenantry worker``."""
    async with running(jobs, worker=True):
        await asyncio.Event().wait()
