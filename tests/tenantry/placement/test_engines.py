"""The engine cache: capped, least recently used out first, idle engines closed."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text

from tenantry.db import make_engine
from tenantry.placement import EngineCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _cache(tmp_path: Path, clock: Clock, made: list[Engine]) -> EngineCache:
    def make(url: str) -> Engine:
        engine = make_engine(url)
        made.append(engine)
        return engine

    return EngineCache(make, capacity=3, idle_seconds=60, clock=clock)


def _url(tmp_path: Path, i: int) -> str:
    return f"sqlite:///{tmp_path / f't{i}.sqlite3'}"


def test_the_cache_is_capped_and_keeps_the_recently_used(tmp_path: Path) -> None:
    clock, made = Clock(), []
    cache = _cache(tmp_path, clock, made)
    for i in range(3):
        with cache.get(_url(tmp_path, i)).engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    cache.get(_url(tmp_path, 0))  # 0 used again: 1 is now the oldest
    closed_in: list[int] = []

    @event.listens_for(made[1].pool, "close")
    def _closed(*_args: Any) -> None:
        closed_in.append(threading.get_ident())

    cache.get(_url(tmp_path, 3))
    cache.settle()
    assert len(cache) == 3
    assert _url(tmp_path, 1) not in cache
    assert _url(tmp_path, 0) in cache
    assert cache.created == 4 and cache.disposed == 1
    assert made[1].pool.checkedin() == 0  # its pooled connection was closed
    # ... by the cache's thread, not by the request that pushed it out.
    assert closed_in and threading.get_ident() not in closed_in
    # The same URL always gives the same engine while cached: one pool per database.
    assert cache.get(_url(tmp_path, 0)).engine is made[0]


def test_idle_engines_are_closed(tmp_path: Path) -> None:
    clock, made = Clock(), []
    cache = _cache(tmp_path, clock, made)
    cache.get(_url(tmp_path, 0))
    clock.now = 30
    cache.get(_url(tmp_path, 1))
    clock.now = 70  # 0 idle for 70 s, 1 for 40 s
    cache.get(_url(tmp_path, 2))
    assert _url(tmp_path, 0) not in cache
    assert _url(tmp_path, 1) in cache
    cache.close()
    assert len(cache) == 0 and cache.disposed == 3


def test_a_sibling_engine_sets_its_connections_up_as_the_first_one(tmp_path: Path) -> None:
    """Siblings share the first engine's dialect; each new connection still gets the
    dialect's own set-up (SQLAlchemy's ``regexp`` for SQLite) and tenantry's pragmas."""
    from tenantry.placement.siblings import SiblingEngines

    siblings = SiblingEngines()
    first, second = (siblings.make(_url(tmp_path, i)) for i in range(2))
    assert second.dialect is first.dialect
    with second.connect() as conn:
        assert conn.execute(text("SELECT 'tenant' REGEXP 'ten'")).scalar() == 1
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    first.dispose()
    second.dispose()
