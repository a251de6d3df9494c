"""Rate limits on login, register and join, with the ``limits`` library."""

from __future__ import annotations

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request

from tenantry.errors import RateLimited


class RateLimits:
    """One limiter per process (or shared through Redis with a ``redis://`` storage URL)."""

    def __init__(self, storage_url: str, *, enabled: bool = True) -> None:
        self.storage = storage_from_string(storage_url)
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.enabled = enabled

    def hit(self, rate: str, bucket: str, request: Request) -> None:
        """Count one attempt from this client; raise :class:`RateLimited` past the rate."""
        if not self.enabled:
            return
        client = request.client.host if request.client else "unknown"
        if not self.limiter.hit(parse(rate), bucket, client):
            raise RateLimited("too many attempts; wait a minute and try again")

    def reset(self) -> None:
        self.storage.reset()
