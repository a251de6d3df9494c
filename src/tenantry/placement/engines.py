"""A capped LRU of engines for dedicated databases, made on first use, closed when idle."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from tenantry.read_only import READ_ONLY


@dataclass(slots=True)
class CachedEngine:
    """One database's engine and its read-only twin (same pool)."""

    url: str
    engine: Engine
    reader: Engine
    last_used: float


class EngineCache:
    """At most ``capacity`` engines; the least recently used one is disposed to make room.

    An engine unused for ``idle_seconds`` is disposed the next time the cache is
    touched, so a thousand tenants rotating keep a bounded number of pools, file
    descriptors and memory. Disposing an engine a request still uses is safe:
    its checked-out connection keeps working and is closed when returned.
    """

    def __init__(
        self,
        make: Callable[[str], Engine],
        *,
        capacity: int = 64,
        idle_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make = make
        self.capacity = capacity
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._entries: OrderedDict[str, CachedEngine] = OrderedDict()
        self._lock = threading.Lock()
        self.created = 0
        self.disposed = 0

    def get(self, url: str) -> CachedEngine:
        """The engine for ``url``, made now if it is not cached."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(url)
            if entry is not None:
                entry.last_used = now
                self._entries.move_to_end(url)
                return entry
        # Made outside the lock: creating an engine must not hold up other tenants.
        engine = self._make(url)
        fresh = CachedEngine(url, engine, engine.execution_options(**{READ_ONLY: True}), now)
        evicted: list[CachedEngine] = []
        with self._lock:
            entry = self._entries.get(url)
            if entry is not None:  # another thread made it meanwhile: keep theirs
                evicted.append(fresh)
            else:
                entry = fresh
                self._entries[url] = fresh
                self.created += 1
            while len(self._entries) > self.capacity:
                evicted.append(self._entries.popitem(last=False)[1])
            evicted += self._expired(now)
        for old in evicted:
            old.engine.dispose()
            self.disposed += 1
        return entry

    def _expired(self, now: float) -> list[CachedEngine]:
        out: list[CachedEngine] = []
        while self._entries:
            url, oldest = next(iter(self._entries.items()))
            if now - oldest.last_used < self.idle_seconds:
                break
            out.append(self._entries.pop(url))
        return out

    def discard(self, url: str) -> None:
        """Close ``url``'s engine (its database is being dropped or moved away)."""
        with self._lock:
            entry = self._entries.pop(url, None)
        if entry is not None:
            entry.engine.dispose()
            self.disposed += 1

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, url: object) -> bool:
        return url in self._entries

    def close(self) -> None:
        """Dispose every engine."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        for entry in entries:
            entry.engine.dispose()
            self.disposed += 1
