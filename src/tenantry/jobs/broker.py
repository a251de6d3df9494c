"""The queue under the jobs: taskiq's Redis stream broker, made to outlive Redis outages.

taskiq's ``RedisStreamBroker`` acknowledges a message only after the job ran, and
claims messages a dead worker left unacknowledged, so a crash re-runs a job
rather than losing it. Its listener stops at the first connection error; this one
waits, re-declares its consumer group (a restarted Redis has none) and resumes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

from redis.exceptions import RedisError, ResponseError
from taskiq import AckableMessage
from taskiq_redis import RedisStreamBroker

log = logging.getLogger("tenantry.jobs")


class ResilientStreamBroker(RedisStreamBroker):
    """A stream broker whose listener survives Redis going away and coming back."""

    def __init__(self, url: str, queue_name: str, **kwargs: Any) -> None:
        super().__init__(
            url,
            queue_name=queue_name,
            consumer_group_name=f"{queue_name}:workers",
            # From the stream's start: a group re-created after an outage must not
            # skip the jobs that were queued before it was.
            consumer_id="0",
            maxlen=100_000,
            idle_timeout=60_000,
            unacknowledged_lock_timeout=30,
            socket_timeout=5,
            socket_connect_timeout=1,
            **kwargs,
        )

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        while True:
            try:
                async for message in super().listen():
                    yield message
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning("job queue lost its consumer group (Redis restarted); re-creating")
                await self._redeclare()
            except (RedisError, OSError) as exc:
                log.warning("job queue unreachable (%s); retrying", type(exc).__name__)
                await asyncio.sleep(0.5)
                await self._redeclare()

    async def _redeclare(self) -> None:
        try:
            await self._declare_consumer_group()
        except (RedisError, OSError):
            await asyncio.sleep(0.5)
