"""Rate limits with the ``limits`` library: per client IP, per tenant, per user.

With a ``redis://`` storage every server process counts against the same
windows; ``memory://`` counts per process. When the storage cannot be reached
the policy is the host's: fail open (count nothing, log a warning; the default,
so a Redis outage does not take the service down) or fail closed (answer 503).
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from starlette.requests import Request

from tenantry.errors import RateLimited, TenantryError
from tenantry.metrics import count_rate_limit_refusal

log = logging.getLogger("tenantry.ratelimit")

# How long a failed storage is left alone before it is tried again: during an
# outage each request should not wait on a refused connection.
_RETRY_STORAGE_AFTER = 1.0


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
        options = {}
        if storage_url.startswith(("redis://", "rediss://")):
            options = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
        self.storage = storage_from_string(storage_url, **options)
        # Sign-in style buckets: exact moving window. Request budgets: a cheap counter.
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.counter = SlidingWindowCounterRateLimiter(self.storage)
        self.fail_open = fail_open
        self._down_until = 0.0
        self.enabled = enabled

    def hit(self, rate: str, bucket: str, request: Request) -> None:
        """Count one attempt from this client; raise :class:`RateLimited` past the rate."""
        if not self.enabled:
            return
        client = request.client.host if request.client else "unknown"
        self._hit(self.limiter, parse(rate), bucket, client)

    def hit_key(self, rate: str, bucket: str, *identifiers: str) -> None:
        """Count one request against ``bucket`` for ``identifiers`` (a tenant, a user)."""
        self._hit(self.counter, parse(rate), bucket, *identifiers)

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

    def reset(self) -> None:
        self.storage.reset()
