"""PostgreSQL's ``infinity`` dates and times, read through psycopg as asyncpg reads them.

asyncpg, the driver of async routes, writes ``date.max`` (9999-12-31) and
``datetime.max`` as ``'infinity'`` (and the minimums as ``'-infinity'``) and reads them
back as those values. psycopg, the driver of sync routes, exports, ``tenantize`` and
the command line, refuses to load ``infinity`` at all ("date too large"): a tenant
whose async route stored 9999-12-31, or a legacy table using ``infinity`` as "no end",
could no longer be exported, and ``tenantize`` stopped with a traceback. Loaders that
read ``±infinity`` as the maximum and minimum make both drivers read the same values;
every other value goes to psycopg's own (C) loader.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from psycopg import adapt, postgres
from psycopg.abc import AdaptContext, Loader
from psycopg.pq import Format

_INFINITE: dict[str, tuple[Any, Any]] = {
    "date": (date.max, date.min),
    "timestamp": (datetime.max, datetime.min),
    "timestamptz": (datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC)),
}


def _infinite_loader(type_name: str) -> type[adapt.Loader]:
    oid = postgres.types[type_name].oid
    found = postgres.adapters.get_loader(oid, Format.TEXT)
    assert found is not None  # psycopg loads every date and time type
    wrapped: type[Loader] = found
    highest, lowest = _INFINITE[type_name]

    class InfiniteLoader(adapt.Loader):
        def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
            super().__init__(oid, context)
            self._load = wrapped(oid, context).load

        def load(self, data: Any) -> Any:
            if data == b"infinity":
                return highest
            if data == b"-infinity":
                return lowest
            return self._load(data)

    InfiniteLoader.__name__ = f"Infinite{type_name.capitalize()}Loader"
    return InfiniteLoader


_LOADERS = {name: _infinite_loader(name) for name in _INFINITE}


def read_infinity(connection: Any) -> None:
    """Register the loaders on one psycopg connection (sync or async)."""
    for name, loader in _LOADERS.items():
        connection.adapters.register_loader(name, loader)
