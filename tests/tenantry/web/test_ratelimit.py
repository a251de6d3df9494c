"""The in-process rate-limit storage: the same windows as ``limits``, one sweep thread a second."""

from __future__ import annotations

import time

import pytest
from limits import parse

from tenantry.errors import RateLimited
from tenantry.web.ratelimit import RateLimits
from tests.support.redis import RedisServer


def test_many_hits_start_one_sweep_not_one_per_10_ms() -> None:
    limits = RateLimits("memory://")
    timers = set()
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:  # ~30 sweeps would start with limits' own storage
        limits.hit_key("1000000/minute", "tenant", "t1")
        timers.add(id(limits.storage.timer))  # type: ignore[attr-defined]
        time.sleep(0.001)
    # The constructor's timer and at most one sweep of ours.
    assert len(timers) <= 2


def test_windows_still_refuse_past_the_rate_and_reopen_after_it() -> None:
    limits = RateLimits("memory://")
    for _ in range(3):
        limits.hit_key("3/second", "tenant", "t1")
    with pytest.raises(RateLimited):
        limits.hit_key("3/second", "tenant", "t1")
    limits.hit_key("3/second", "tenant", "t2")  # another key has its own window
    time.sleep(2.1)  # the sliding counter weighs the previous second too
    limits.hit_key("3/second", "tenant", "t1")


def test_the_sweep_still_empties_expired_moving_windows() -> None:
    limits = RateLimits("memory://")
    limits.limiter.hit(parse("5/second"), "login", "ip")
    storage = limits.storage
    assert any(storage.events.values())  # type: ignore[attr-defined]
    time.sleep(1.2)  # the window has expired; a hit schedules the next sweep (1 s later)
    limits.hit_key("100/second", "tenant", "other")
    time.sleep(1.3)
    assert not any(storage.events.values())  # type: ignore[attr-defined]


@pytest.mark.redis
def test_a_redis_socket_url_counts_in_the_same_redis(redis: RedisServer) -> None:
    """``unix://`` is redis-py's spelling; ``limits`` alone knows only ``redis+unix://``."""
    through_socket = RateLimits(redis.socket_url, fail_open=False)
    for _ in range(2):
        through_socket.hit_key("3/minute", "tenant", "t1")
    through_port = RateLimits(redis.url, fail_open=False)
    through_port.hit_key("3/minute", "tenant", "t1")
    with pytest.raises(RateLimited):
        through_socket.hit_key("3/minute", "tenant", "t1")
