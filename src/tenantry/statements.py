"""The slowest SQL statements a process has run: a bounded in-memory record for the console.

Timed with SQLAlchemy's cursor events. Only the statement text is kept (bound
parameters, which hold tenant data, never are), truncated, and at most
``capacity`` distinct statements: a flood of distinct SQL cannot grow it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
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


class StatementLog:
    """Times every statement of an engine; keeps the slowest ``capacity`` statement texts."""

    def __init__(
        self,
        engine: Engine,
        *,
        capacity: int = 200,
        observe: Callable[[float], None] | None = None,
    ) -> None:
        self.capacity = capacity
        self._observe = observe
        self._stats: dict[str, StatementStats] = {}
        self._lock = threading.Lock()
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info.setdefault(_STARTED, []).append(time.perf_counter())

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started = conn.info.get(_STARTED)
        if not started:
            return
        elapsed = time.perf_counter() - started.pop()
        if self._observe is not None:
            self._observe(elapsed)
        self.add(statement, elapsed)

    def add(self, statement: str, elapsed: float) -> None:
        sql = " ".join(statement.split())[:MAX_TEXT]
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
