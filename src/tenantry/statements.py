"""The slowest SQL statements a process has run: a bounded in-memory record for the console.

Timed with SQLAlchemy's cursor events, on every engine of the database (the event
loop's reads included). The raw selects of those reads (``tenantry.db``) skip the
cursor events: they recognise a log's :class:`CursorTimer` and time themselves for
it. Only the statement text is kept (bound parameters, which hold tenant data,
never are), truncated, and at most ``capacity`` distinct statements: a flood of
distinct SQL cannot grow it.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, event

MAX_TEXT = 400
_STARTED = "tenantry.statement_started"


@dataclass(slots=True)
class StatementStats:
    sql: str
    calls: int = 0
    total_seconds: float = 0.0
    max_seconds: float = 0.0

    @property
    def mean_seconds(self) -> float:
        return self.total_seconds / self.calls if self.calls else 0.0


class CursorTimer:
    """A :class:`StatementLog`'s listener of one cursor event; ``log`` says whose."""

    def __init__(self, log: StatementLog, *, before: bool) -> None:
        self.log = log
        self.before = before

    def __call__(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any
    ) -> tuple[str, Any] | None:
        if self.before:
            conn.info.setdefault(_STARTED, []).append(time.perf_counter())
            return statement, parameters  # listened with retval: no wrapper around it
        started = conn.info.get(_STARTED)
        if started:
            self.log.timed(statement, time.perf_counter() - started.pop())
        return None


class StatementLog:
    """Times every statement of the engines it watches; keeps the slowest ``capacity``
    statement texts."""

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        capacity: int = 200,
        observe: Callable[[float], None] | None = None,
    ) -> None:
        self.capacity = capacity
        self._observe = observe
        self._stats: dict[str, StatementStats] = {}
        self._lock = threading.Lock()
        self._watched: weakref.WeakSet[Engine] = weakref.WeakSet()
        if engine is not None:
            self.watch(engine)

    def watch(self, engine: Engine) -> None:
        """Time the statements of ``engine`` too (once; a sync engine, not an option copy)."""
        if engine in self._watched:
            return
        self._watched.add(engine)
        event.listen(engine, "before_cursor_execute", CursorTimer(self, before=True), retval=True)
        event.listen(engine, "after_cursor_execute", CursorTimer(self, before=False))

    def timed(self, statement: str, elapsed: float) -> None:
        """A statement ran for ``elapsed`` seconds: the metric, then the record."""
        if self._observe is not None:
            self._observe(elapsed)
        self.add(statement, elapsed)

    def add(self, statement: str, elapsed: float) -> None:
        sql = _shown(statement[: 4 * MAX_TEXT])
        with self._lock:
            stats = self._stats.get(sql)
            if stats is None:
                if len(self._stats) >= self.capacity:
                    fastest = min(self._stats.values(), key=lambda s: s.max_seconds)
                    if fastest.max_seconds >= elapsed:
                        return  # faster than everything kept: not worth a place
                    del self._stats[fastest.sql]
                stats = self._stats[sql] = StatementStats(sql)
            stats.calls += 1
            stats.total_seconds += elapsed
            stats.max_seconds = max(stats.max_seconds, elapsed)

    def slowest(self, limit: int = 10) -> list[StatementStats]:
        with self._lock:
            ranked = sorted(self._stats.values(), key=lambda s: s.max_seconds, reverse=True)
            return [
                StatementStats(s.sql, s.calls, s.total_seconds, s.max_seconds)
                for s in ranked[:limit]
            ]

    def __len__(self) -> int:
        return len(self._stats)


@lru_cache(maxsize=1024)
def _shown(start: str) -> str:
    """The text kept of a statement, from its start: one line, truncated. Cached (the
    same few texts recur at every request), by a bounded start (texts may be long)."""
    return " ".join(start.split())[:MAX_TEXT]
