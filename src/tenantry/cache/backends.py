"""Where cached bytes live: this process's memory, local disk, or a Redis server.

All are fail-soft: a backend that cannot be reached answers misses and forgets
writes (logged), so a Redis outage makes pages slower, never broken.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from tenantry.redis_url import REDIS_SCHEMES

log = logging.getLogger("tenantry.cache")


class CacheBackend(Protocol):
    """The few operations the tenant cache needs: entries, and counters (a tenant's
    generation, a tag's version) that ``incr`` changes and ``counters`` reads."""

    def get_many(self, keys: list[str]) -> list[bytes | None]: ...

    def set(self, key: str, value: bytes, ttl: int) -> None: ...

    def counters(self, keys: list[str]) -> Sequence[bytes | None]: ...

    def incr(self, key: str) -> None: ...

    def close(self) -> None: ...


class MemoryBackend:
    """A bounded LRU with per-entry expiry, for one process (the embedded default)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        now = time.monotonic()
        out: list[bytes | None] = []
        with self._lock:
            for key in keys:
                entry = self._data.get(key)
                if entry is None or entry[0] < now:
                    out.append(None)
                    continue
                self._data.move_to_end(key)
                out.append(entry[1])
        return out

    def set(self, key: str, value: bytes, ttl: int) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    counters = get_many  # stored beside the entries, as entries that never expire

    def incr(self, key: str) -> None:
        with self._lock:
            entry = self._data.get(key)
            count = int(entry[1]) + 1 if entry else 1
            # Counters never expire on their own: they are what makes old entries unreachable.
            self._data[key] = (float("inf"), str(count).encode())

    def close(self) -> None:
        self._data.clear()


CACHE_SCHEMES = ("memory://", "file://", *REDIS_SCHEMES)


def check_cache_url(url: str) -> None:
    """Raise ``ValueError`` naming the choices when ``url`` is no cache location."""
    if not url.startswith(CACHE_SCHEMES):
        raise ValueError(
            f"cache URL {url!r}: use memory://, file://<directory> or redis://host:port/db"
        )


def backend_from_url(url: str | None) -> CacheBackend:
    """Where the tenant cache lives, by URL.

    ``None`` or ``memory://``: this process only. ``file://<directory>`` (``file:///abs``
    or ``file://relative``): on local disk, shared by the processes of one machine.
    ``redis://…``, ``rediss://…``, ``unix://…``: shared by every process that reaches it.
    """
    if url is None or url.startswith("memory://"):
        return MemoryBackend()
    if url.startswith("file://"):
        try:
            from tenantry.cache.disk_backend import DiskBackend
        except ImportError as exc:
            raise RuntimeError(
                f"a file:// cache needs diskcache: pip install 'tenantry[disk-cache]' ({exc})"
            ) from exc
        return DiskBackend(Path(url.removeprefix("file://")))
    check_cache_url(url)
    try:
        from tenantry.cache.redis_backend import RedisBackend
    except ImportError as exc:  # the redis extra is not installed
        raise RuntimeError(
            f"a redis:// cache needs the redis client: pip install 'tenantry[redis]' ({exc})"
        ) from exc
    return RedisBackend(url)
