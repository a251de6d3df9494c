"""Engines for many databases of one server that share a dialect and a compiled-statement cache.

A fresh ``create_engine`` per tenant database costs its first connection a
dialect initialisation and every statement a compilation, about 15 to 25 ms a
cold request on SQLite: with a thousand tenants rotating through a capped
cache, most requests are cold. Databases of one server have the same dialect
and the same schema, so their engines share the first one's (initialised)
dialect and one compiled cache: a cold tenant then costs a pool and a
connection. Each engine keeps its own pool, URL and connection set-up.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine.base import Engine as EngineClass
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import LRUCache

from tenantry.db import make_engine
from tenantry.placement.config import parsed_url
from tenantry.sqlite import SQLITE_PRAGMAS, configure_sqlite


def server_key(url: str) -> tuple[Any, ...]:
    """What databases of one server have in common: all but the database name."""
    u = parsed_url(url)
    return (u.drivername, u.username, u.host, u.port, tuple(sorted(u.query.items())))


class SiblingEngines:
    """Makes engines; those of one server share its dialect and compiled cache."""

    def __init__(
        self, *, pool_size: int = 2, max_overflow: int = 2, cache_size: int = 2000
    ) -> None:
        self.pool_size = pool_size
        self.max_overflow = max_overflow
        self._caches: dict[tuple[Any, ...], LRUCache[Any, Any]] = {}
        self._firsts: dict[tuple[Any, ...], Engine] = {}
        self._lock = threading.Lock()
        self.cache_size = cache_size

    def make(self, url: str) -> Engine:
        key = server_key(url)
        with self._lock:
            first = self._firsts.get(key)
            cache = self._caches.setdefault(key, LRUCache(self.cache_size))
        if first is None:
            engine = make_engine(
                url,
                pool_size=self.pool_size,
                max_overflow=self.max_overflow,
                execution_options={"compiled_cache": cache},
            )
            with engine.connect():  # initialises the dialect the siblings will share
                pass
            with self._lock:
                self._firsts.setdefault(key, engine)
            return engine
        return self._sibling(first, url, cache)

    def _sibling(self, first: Engine, url: str, cache: LRUCache[Any, Any]) -> Engine:
        dialect = first.dialect
        u = parsed_url(url)
        cargs, cparams = dialect.create_connect_args(u)
        # The dialect's own set-up of a new connection, in the creator rather than as a
        # pool listener: an engine is made per cold tenant, and each listener is a dozen
        # objects more to make, and for the cyclic GC to walk and free when it is closed.
        on_connect = dialect.on_connect_url(u)

        def connect() -> Any:
            connection = dialect.connect(*cargs, **cparams)
            if on_connect is not None:
                on_connect(connection)
            return connection

        pool = QueuePool(
            connect,
            pool_size=self.pool_size,
            max_overflow=self.max_overflow,
            pre_ping=dialect.name == "postgresql",
            dialect=dialect,
        )
        engine = EngineClass(
            pool, dialect, u, hide_parameters=True, execution_options={"compiled_cache": cache}
        )
        if dialect.name == "sqlite":
            configure_sqlite(engine, SQLITE_PRAGMAS)
        return engine
