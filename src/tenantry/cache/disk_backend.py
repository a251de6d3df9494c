"""A cache on local disk (diskcache's SQLite store), shared by the processes of one machine.

For several server processes without Redis: an invalidation made by one process is seen
by the next read of every other, where a per-process memory cache would serve the old
entry until its TTL ran out. Entries live in diskcache; the counters that key them, in a
shared-memory file beside it (:mod:`tenantry.cache.counters`), so an invalidation writes
nothing to SQLite and waits for no lock.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import diskcache

from tenantry.cache.counters import SharedCounters

log = logging.getLogger("tenantry.cache")


class DiskBackend:
    """Entries and counters in one directory; each process opens it on its own.

    Nothing is evicted for size: entries go when their TTL has passed (diskcache culls
    expired ones as it writes).
    """

    def __init__(self, directory: Path, *, timeout: float = 1.0) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.store = diskcache.Cache(str(directory), timeout=timeout, eviction_policy="none")
        self._counters = SharedCounters(directory / "counters")

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        try:
            return [self.store.get(key) for key in keys]
        except (sqlite3.Error, diskcache.Timeout, OSError) as exc:
            log.warning("cache unreadable (%s): serving without it", type(exc).__name__)
            return [None] * len(keys)

    def counters(self, keys: list[str]) -> Sequence[bytes | None]:
        return self._counters.read(keys)

    def set(self, key: str, value: bytes, ttl: int) -> None:
        try:
            self.store.set(key, value, expire=ttl)
        except (sqlite3.Error, diskcache.Timeout, OSError) as exc:
            log.warning("cache not written (%s)", type(exc).__name__)

    def incr(self, key: str) -> None:
        self._counters.bump(key)

    def close(self) -> None:
        self.store.close()
        self._counters.close()
