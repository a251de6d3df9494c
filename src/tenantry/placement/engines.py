"""A capped LRU of engines for dedicated databases, made on first use, closed when idle."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Engine

from tenantry.read_only import read_only_options


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

    Engines pushed out are closed in a thread of the cache's, not by the request that
    pushed them: closing an SQLite file's last connection checkpoints it and removes its
    WAL (~0.2 ms), and that request is often reading on the event loop.
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
        self._closer: ThreadPoolExecutor | None = None
        self._closing: Future[None] | None = None
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
        fresh = CachedEngine(
            url, engine, engine.execution_options(**read_only_options(engine.dialect.name)), now
        )
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
            if evicted:
                if self._closer is None:
                    self._closer = ThreadPoolExecutor(1, thread_name_prefix="tenantry-engines")
                self._closing = self._closer.submit(self._dispose, evicted)
        return entry

    def _dispose(self, entries: list[CachedEngine]) -> None:
        for old in entries:
            old.engine.dispose()
            with self._lock:
                self.disposed += 1

    def settle(self) -> None:
        """Wait until every engine pushed out so far is closed."""
        closing = self._closing
        if closing is not None:
            closing.result()

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
            self._dispose([entry])

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, url: object) -> bool:
        return url in self._entries

    def close(self) -> None:
        """Dispose every engine, those pushed out included."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
            closer, self._closer = self._closer, None
        if closer is not None:
            closer.shutdown(wait=True)
        self._dispose(entries)
