"""The Redis cache backend (the ``redis`` extra): shared by every process of a deployment."""

from __future__ import annotations

import logging
import time

import redis

log = logging.getLogger("tenantry.cache")

_RETRY_AFTER = 1.0  # seconds a failed Redis is left alone before it is tried again
_MAX_UNSENT = 50_000  # invalidations kept for a Redis that is down (a few MB at most)


class RedisBackend:
    """Redis through redis-py, with short timeouts and a one-second back-off after a failure."""

    def __init__(self, url: str, *, timeout: float = 0.25) -> None:
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._down_until = 0.0
        # Invalidations Redis missed while down, sent before anything else once it is back:
        # dropped, the entries they made stale would be served again until their TTL.
        self._unsent: set[str] = set()

    @property
    def reachable(self) -> bool:
        """False within a second of a call that failed: a miss then may not be one."""
        return time.monotonic() >= self._down_until

    def _available(self) -> bool:
        if time.monotonic() < self._down_until:
            return False
        return not self._unsent or self._send_unsent()

    def _send_unsent(self) -> bool:
        unsent, self._unsent = self._unsent, set()  # threads may add more meanwhile
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for key in unsent:
                    pipe.incr(key)
                pipe.execute()
        except redis.RedisError as exc:
            self._unsent |= unsent  # a bump sent twice only makes more entries stale
            self._failed(exc)
            return False
        log.info("cache reachable again: %d missed invalidations sent", len(unsent))
        return True

    def _failed(self, exc: Exception) -> None:
        self._down_until = time.monotonic() + _RETRY_AFTER
        log.warning("cache unreachable (%s): serving without it", type(exc).__name__)

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        if self._available():
            try:
                values = self.client.mget(keys)
                return [v.encode() if isinstance(v, str) else v for v in values]
            except redis.RedisError as exc:
                self._failed(exc)
        return [None] * len(keys)

    counters = get_many  # keys without a TTL, beside the entries

    def set(self, key: str, value: bytes, ttl: int) -> None:
        if self._available():
            try:
                self.client.set(key, value, ex=ttl)
            except redis.RedisError as exc:
                self._failed(exc)

    def incr(self, key: str) -> None:
        # Not skipped while "down": an invalidation must be tried, a stale read is worse
        # than a slow write. If it fails it is kept and sent when Redis answers again.
        try:
            self.client.incr(key)
        except redis.RedisError as exc:
            self._failed(exc)
            if len(self._unsent) < _MAX_UNSENT:
                self._unsent.add(key)
            else:
                log.error("cache down too long: an invalidation is lost; its entries expire")

    def close(self) -> None:
        self.client.close()
