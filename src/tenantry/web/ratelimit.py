"""Rate limits with the ``limits`` library: per client IP, per tenant, per user.

With a ``redis://`` storage every server process counts against the same
windows; ``memory://`` counts per process. When the storage cannot be reached
the policy is the host's: fail open (count nothing, log a warning; the default,
so a Redis outage does not take the service down) or fail closed (answer 503).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from starlette.requests import Request

from tenantry.errors import RateLimited, TenantryError
from tenantry.metrics import count_rate_limit_refusal
from tenantry.redis_url import REDIS_SCHEMES, limits_storage_url

log = logging.getLogger("tenantry.ratelimit")

# How long a failed storage is left alone before it is tried again: during an
# outage each request should not wait on a refused connection.
_RETRY_STORAGE_AFTER = 1.0
# A rate string parsed once (the few a host sets recur at every request; they are
# checked at start-up, so a bad one never reaches here).
_item = lru_cache(maxsize=256)(parse)
# How often the in-process storage drops expired windows (see _SweptMemoryStorage).
_SWEEP_EVERY = 1.0
_PARENT_SWEEP = "_MemoryStorage__expire_events"


class _SweptMemoryStorage(MemoryStorage):
    """``limits``' in-process storage, dropping expired windows once a second, not every 10 ms.

    ``MemoryStorage`` starts a new timer thread 10 ms after a hit whenever its last
    one has ended, and that thread walks every key: under load, a hundred thread
    starts and key walks a second, ~7 % of a request's CPU here. Reads already
    drop an expired counter (``get``) and windows compare timestamps, so the sweep
    only frees memory and can run far less often. The hook is ``limits``' private
    method: should a release rename it, the override goes unused and
    ``test_many_hits_start_one_sweep_not_one_per_10_ms`` fails.
    """

    def __init__(self) -> None:
        super().__init__("memory://")
        self._next_sweep = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # the parent's private hook
        now = time.monotonic()
        if now < self._next_sweep or self.timer.is_alive():
            return
        self._next_sweep = now + _SWEEP_EVERY
        self.timer = threading.Timer(_SWEEP_EVERY, getattr(self, _PARENT_SWEEP))
        self.timer.daemon = True
        self.timer.start()


def check_storage_url(url: str) -> None:
    """Refuse a rate-limit storage URL other than ``memory://`` and Redis's, before
    anything is built with it (``limits`` would fail deep in app construction).

    Raises:
        ValueError: naming the URLs taken.
    """
    if url != "memory://" and not url.startswith(REDIS_SCHEMES):
        raise ValueError(
            f"{url!r} is no rate-limit storage: use memory:// (this process) or a Redis URL"
            " (redis://host:port/db, rediss://… or unix:///path/to/redis.sock)"
        )


def _storage(url: str) -> Storage:
    check_storage_url(url)
    if url == "memory://":
        return _SweptMemoryStorage()
    options = {}
    if url.startswith(REDIS_SCHEMES):
        options = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
    storage = storage_from_string(limits_storage_url(url), **options)
    if not isinstance(storage, Storage):
        raise ValueError(f"{url}: an async storage; rate limits need a synchronous one")
    return storage


class RateLimitStorageDown(TenantryError):
    """The rate-limit storage is unreachable and the policy is to fail closed."""

    code = "rate_limit_unavailable"
    status = 503


class RateLimits:
    """The process's limiters; shared through Redis with a ``redis://`` storage URL.

    Args:
        storage_url: ``memory://`` or ``redis://host:port/db`` (any ``limits`` storage).
        fail_open: when the storage is down, let requests through (and log) instead of
            refusing them with 503.
        enabled: ``False`` counts nothing (test suites only).
    """

    def __init__(self, storage_url: str, *, fail_open: bool = True, enabled: bool = True) -> None:
        self.storage = _storage(storage_url)
        # Sign-in style buckets: exact moving window. Request budgets: a cheap counter.
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.counter = SlidingWindowCounterRateLimiter(self.storage)
        self.fail_open = fail_open
        self._down_until = 0.0
        self.enabled = enabled

    @property
    def in_process(self) -> bool:
        """Whether counting does no I/O: off, or kept in this process's memory."""
        return not self.enabled or isinstance(self.storage, MemoryStorage)

    def hit(self, rate: str, bucket: str, request: Request) -> None:
        """Count one attempt from this client; raise :class:`RateLimited` past the rate."""
        if not self.enabled:
            return
        client = request.client.host if request.client else "unknown"
        self._hit(self.limiter, _item(rate), bucket, client)

    def hit_key(self, rate: str, bucket: str, *identifiers: str) -> None:
        """Count one request against ``bucket`` for ``identifiers`` (a tenant, a user)."""
        self._hit(self.counter, _item(rate), bucket, *identifiers)

    def allows(self, rate: str, bucket: str, *identifiers: str) -> bool:
        """Count one against ``bucket`` for ``identifiers``; whether it was within ``rate``
        (for what is skipped rather than refused). True when counting is off or down."""
        if not self.usable():
            return True
        try:
            return bool(self.limiter.hit(_item(rate), bucket, *identifiers))
        except Exception as exc:  # redis ConnectionError, TimeoutError, limits' StorageError
            self.storage_failed(exc)
            return True

    def _hit(
        self,
        limiter: MovingWindowRateLimiter | SlidingWindowCounterRateLimiter,
        item: RateLimitItem,
        *identifiers: str,
    ) -> None:
        if not self.enabled:
            return
        if time.monotonic() < self._down_until:
            self._storage_down(None)
            return
        try:
            allowed = limiter.hit(item, *identifiers)
            if allowed:
                return
            reset = limiter.get_window_stats(item, *identifiers).reset_time
        except Exception as exc:  # redis ConnectionError, TimeoutError, limits' StorageError
            self._down_until = time.monotonic() + _RETRY_STORAGE_AFTER
            self._storage_down(exc)
            return
        count_rate_limit_refusal(identifiers[0])
        retry_after = max(1, math.ceil(reset - time.time()))
        raise RateLimited(
            f"too many requests; try again in {retry_after} s",
            retry_after=retry_after,
            limit=item.amount,
        )

    def usable(self) -> bool:
        """Whether to count at all: enabled, and the storage not known to be down."""
        if not self.enabled:
            return False
        if time.monotonic() < self._down_until:
            self._storage_down(None)
            return False
        return True

    def storage_failed(self, exc: Exception) -> None:
        """A caller's own use of the storage failed: the same fail-open or fail-closed policy."""
        self._down_until = time.monotonic() + _RETRY_STORAGE_AFTER
        self._storage_down(exc)

    def _storage_down(self, exc: Exception | None) -> None:
        if exc is not None:
            log.warning(
                "rate-limit storage unreachable (%s): failing %s",
                type(exc).__name__,
                "open" if self.fail_open else "closed",
            )
        if not self.fail_open:
            raise RateLimitStorageDown("rate limiting is unavailable; try again shortly")

    def serving(self) -> tuple[bool, str]:
        """Whether requests can be served as far as the limits go: ``(ok, reason)``.

        Only limits that fail closed on a shared storage can stop a process (every request
        a 503 while Redis is away): then the storage is asked, so that ``/readyz`` turns a
        load balancer away from a process that refuses everything. Blocks: call it from a
        thread.
        """
        if self.in_process or self.fail_open:
            return True, "ready"
        try:
            reachable = bool(self.storage.check())
        except Exception as exc:  # redis ConnectionError, TimeoutError, limits' StorageError
            reachable, reason = False, type(exc).__name__
        else:
            reason = "no answer"
        if reachable:
            return True, "ready"
        return False, f"rate-limit storage unreachable ({reason}) and limits fail closed"

    def reset(self) -> None:
        self.storage.reset()
