"""The queue under the jobs: taskiq's Redis stream broker, made to outlive Redis outages
and never to hand a running job to a second worker.

A message is acknowledged only after its job ran, and one left unacknowledged for
:data:`IDLE_MS` (its worker died) is claimed by another worker, so a crash re-runs a
job rather than losing it. taskiq's own listener claims such messages only after a
read that returned new ones, so on a quiet queue a dead worker's job waited for the
next job to arrive; and it claims by idle time alone, so a job still running after
the idle time was handed to a second worker and ran twice at once (a tenant move
racing itself, an import adding its rows twice). Here every worker looks for
abandoned messages every :data:`CLAIM_EVERY_S` seconds, and renews the messages its
jobs are running every :data:`RENEW_EVERY_S` seconds: only a worker that stopped
renewing loses them. The listener also outlives Redis going away and coming back.

An acknowledgement that does not reach Redis (a job that ended during an outage) is
tried again, with back-off, for up to :data:`ACK_FOR_S` seconds; the message is renewed
meanwhile, so no other worker claims a job that already ran. Given up, or the worker
stopped first, the job is delivered again: jobs run at least once, and those whose work
must not be applied twice record it (:mod:`tenantry.jobs.once`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import LockError, RedisError, ResponseError
from taskiq import AckableMessage
from taskiq_redis import RedisStreamBroker

log = logging.getLogger("tenantry.jobs")

IDLE_MS = 60_000  # a message unacknowledged and not renewed this long is claimed again
RENEW_EVERY_S = 10.0  # how often a worker renews the messages its jobs are running
CLAIM_EVERY_S = 5.0  # how often a worker looks for messages a dead worker left
RETRY_S = 0.5  # the pause before talking to an unreachable Redis again
ACK_FOR_S = 600.0  # how long a failed acknowledgement is tried again
ACK_WAIT_MAX_S = 5.0  # the longest pause between two tries of an acknowledgement


class ResilientStreamBroker(RedisStreamBroker):
    """A stream broker whose listener survives Redis outages and whose running jobs
    are never claimed by another worker."""

    def __init__(self, url: str, queue_name: str, **kwargs: Any) -> None:
        super().__init__(
            url,
            queue_name=queue_name,
            consumer_group_name=f"{queue_name}:workers",
            # From the stream's start: a group re-created after an outage must not
            # skip the jobs that were queued before it was.
            consumer_id="0",
            maxlen=100_000,
            idle_timeout=IDLE_MS,
            unacknowledged_lock_timeout=30,
            socket_timeout=5,
            socket_connect_timeout=1,
            **kwargs,
        )
        self._running: set[Any] = set()  # ids of messages whose jobs run here
        self._renewer: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        """Start even while Redis is unreachable: the listener declares the group later."""
        await super(RedisStreamBroker, self).startup()
        with contextlib.suppress(RedisError, OSError):
            await self._declare_consumer_group()
        self._renewer = asyncio.create_task(self._renew_forever())

    async def shutdown(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.wait([self._renewer], timeout=5)
        await super().shutdown()

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        claimed_at = 0.0
        while True:
            try:
                async with Redis(connection_pool=self.connection_pool) as redis:
                    while True:
                        if _cancelled():  # redis-py may swallow a cancellation outright
                            raise asyncio.CancelledError
                        for message in await self._read_new(redis):
                            yield message
                        if time.monotonic() - claimed_at >= CLAIM_EVERY_S:
                            claimed_at = time.monotonic()
                            for message in await self._claim_abandoned(redis):
                                yield message
            except ResponseError as exc:
                if "NOGROUP" not in str(exc) or _cancelled():
                    raise
                log.warning("job queue lost its consumer group (Redis restarted); re-creating")
                await self._redeclare()
            except (RedisError, OSError) as exc:
                if _cancelled():
                    raise asyncio.CancelledError from exc
                log.warning("job queue unreachable (%s); retrying", type(exc).__name__)
                await asyncio.sleep(RETRY_S)
                await self._redeclare()

    async def _read_new(self, redis: Redis) -> list[AckableMessage]:
        fetched: Any = await redis.xreadgroup(
            self.consumer_group_name,
            self.consumer_name,
            {self.queue_name: ">"},
            block=self.block,
            count=self.count,
        )
        return [
            self._message(msg_id, msg)
            for _stream, entries in fetched or ()
            for msg_id, msg in entries
        ]

    async def _claim_abandoned(self, redis: Redis) -> list[AckableMessage]:
        """Messages left unacknowledged and unrenewed for IDLE_MS, now this worker's."""
        lock = redis.lock(
            f"autoclaim:{self.consumer_group_name}:{self.queue_name}",
            timeout=self.unacknowledged_lock_timeout,
        )
        if not await lock.acquire(blocking_timeout=1):
            return []  # another worker is claiming them now
        try:
            _next, entries, *_deleted = await redis.xautoclaim(
                self.queue_name,
                self.consumer_group_name,
                self.consumer_name,
                min_idle_time=self.idle_timeout,
                count=self.unacknowledged_batch_size,
            )
        finally:
            with contextlib.suppress(LockError):  # expired meanwhile: nothing to release
                await lock.release()
        if entries:
            log.warning("claimed %d job(s) a stopped worker left", len(entries))
        return [self._message(msg_id, msg) for msg_id, msg in entries if msg]

    def _message(self, msg_id: Any, msg: dict[bytes, bytes]) -> AckableMessage:
        self._running.add(msg_id)
        return AckableMessage(data=msg[b"data"], ack=self._acker(msg_id))

    def _acker(self, msg_id: Any) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            try:
                await self._ack(msg_id)
            finally:
                self._running.discard(msg_id)

        return ack

    async def _ack(self, msg_id: Any) -> None:
        """``XACK`` the message, tried again while Redis is unreachable (logged once).

        It stays in :attr:`_running` meanwhile, so the renewals keep it from being claimed
        as abandoned once Redis answers. Never raises: an acknowledgement given up means
        the job may run again, which is what a dead worker's job does too.
        """
        deadline = time.monotonic() + ACK_FOR_S
        wait = RETRY_S
        failed: BaseException | None = None
        while True:
            try:
                async with Redis(connection_pool=self.connection_pool) as redis:
                    await redis.xack(self.queue_name, self.consumer_group_name, msg_id)
            except (RedisError, OSError) as exc:
                if _cancelled():
                    raise asyncio.CancelledError from exc
                if failed is None:
                    log.warning("job not acknowledged (%s); trying again", type(exc).__name__)
                failed = exc
                if time.monotonic() + wait > deadline:
                    log.error(
                        "job not acknowledged for %.0f s (%s): it may run again",
                        ACK_FOR_S,
                        type(exc).__name__,
                    )
                    return
                await asyncio.sleep(wait)
                wait = min(wait * 2, ACK_WAIT_MAX_S)
                continue
            if failed is not None:
                log.info("job acknowledged once Redis answered again")
            return

    async def _renew_forever(self) -> None:
        """Reset the idle time of the messages whose jobs run here (``XCLAIM … JUSTID``
        to this worker): while it renews them, no other worker claims them."""
        while True:
            await asyncio.sleep(RENEW_EVERY_S)
            ids = list(self._running)
            if not ids:
                continue
            try:
                async with Redis(connection_pool=self.connection_pool) as redis:
                    await redis.xclaim(
                        self.queue_name,
                        self.consumer_group_name,
                        self.consumer_name,
                        min_idle_time=0,
                        message_ids=ids,
                        justid=True,
                    )
            except (RedisError, OSError) as exc:  # the next round tries again
                if _cancelled():
                    raise asyncio.CancelledError from exc
                log.warning("running jobs not renewed (%s)", type(exc).__name__)

    async def _redeclare(self) -> None:
        try:
            await self._declare_consumer_group()
        except (RedisError, OSError):
            await asyncio.sleep(RETRY_S)


def _cancelled() -> bool:
    """Whether the running task is being cancelled: redis-py may turn the cancellation of a
    command into a connection error, which must stop a retry loop, not feed it."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
