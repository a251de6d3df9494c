"""Aware date-times kept as the instant they name, on SQLite too.

PostgreSQL stores ``23:30-05:00`` sent to a ``DateTime(timezone=True)`` column as
``04:30`` UTC the next day; SQLAlchemy's SQLite type writes the wall-clock time and
drops the offset, so the same request stored another instant on each backend (an
outside tester's appointment moved to the day before). Before an ORM flush, such values
are turned to UTC, the one zone a naive time read back from SQLite is taken in (the
export says so). ``UTCDateTime`` columns (``Mapped[datetime]`` on tenantry's ``Base``)
read back aware as well; a plain ``DateTime(timezone=True)`` reads back naive on SQLite.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, inspect
from sqlalchemy.orm import Mapper, Session

from tenantry.hooks import SessionFactory, listen

_ZERO = timedelta(0)
_COLUMNS: dict[type, tuple[str, ...]] = {}


def aware_columns(cls: type) -> tuple[str, ...]:
    """Attributes of ``cls`` whose column is a plain ``DateTime(timezone=True)``."""
    known = _COLUMNS.get(cls)
    if known is None:
        mapper: Mapper[Any] = inspect(cls)
        known = _COLUMNS[cls] = tuple(
            prop.key
            for prop in mapper.column_attrs
            if isinstance(kind := prop.columns[0].type, DateTime) and kind.timezone
        )
    return known


def _in_utc(value: object) -> datetime | None:
    """``value`` in UTC when it is an aware datetime in another zone, else ``None``."""
    if isinstance(value, datetime) and value.tzinfo is not None and value.utcoffset() != _ZERO:
        return value.astimezone(UTC)
    return None


def _to_utc(session: Session, _context: Any, _instances: Any) -> None:
    for obj in (*session.new, *session.dirty):
        for key in aware_columns(type(obj)):
            moved = _in_utc(obj.__dict__.get(key))
            if moved is not None:
                setattr(obj, key, moved)


def install_utc_instants(factory: SessionFactory) -> None:
    """Turn aware values of ``DateTime(timezone=True)`` columns to UTC before each flush
    (SQLite's sessions: PostgreSQL keeps the instant itself)."""
    listen(factory, "before_flush", _to_utc)
