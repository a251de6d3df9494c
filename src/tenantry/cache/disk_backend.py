"""A cache on local disk (diskcache's SQLite store), shared by the processes of one machine.

For several server processes without Redis: an invalidation made by one process is seen
by the next read of every other, where a per-process memory cache would serve the old
entry until its TTL ran out.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import diskcache

log = logging.getLogger("tenantry.cache")


class DiskBackend:
    """Entries and counters in one directory; each process opens it on its own.

    Nothing is evicted for size: entries go when their TTL has passed (diskcache culls
    expired ones as it writes), counters never. An eviction by age could take a tag's
    counter while entries stored after its last bump live on; the counter would start
    again from zero and, bumped back, make one of those stale entries current again.
    """

    def __init__(self, directory: Path, *, timeout: float = 1.0) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.store = diskcache.Cache(str(directory), timeout=timeout, eviction_policy="none")

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        try:
            values = [self.store.get(key) for key in keys]
        except (sqlite3.Error, diskcache.Timeout, OSError) as exc:
            log.warning("cache unreadable (%s): serving without it", type(exc).__name__)
            return [None] * len(keys)
        # Counters are stored as integers (incr is atomic across processes only on those).
        return [str(v).encode() if isinstance(v, int) else v for v in values]

    def set(self, key: str, value: bytes, ttl: int) -> None:
        try:
            self.store.set(key, value, expire=ttl)
        except (sqlite3.Error, diskcache.Timeout, OSError) as exc:
            log.warning("cache not written (%s)", type(exc).__name__)

    def incr(self, key: str) -> None:
        # Retried past the busy timeout: a lost invalidation is a stale read elsewhere.
        try:
            self.store.incr(key, retry=True)
        except (sqlite3.Error, OSError) as exc:
            log.error("cache invalidation lost (%s): entries stay until their TTL", exc)

    def close(self) -> None:
        self.store.close()
