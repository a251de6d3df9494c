"""Declared string lengths, held on every backend.

PostgreSQL refuses 50 characters in a ``String(20)`` column; SQLite stores them. The
same app then answered 422 on one backend and 200 on the other, and a tenant exported
from SQLite could not be imported into PostgreSQL. Every ORM write is checked before
it is flushed, on both backends, and refused with the column's name and its length
(never the value: it is tenant data). Core statements (``insert(...)`` with a list of
rows) are the host's to check.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Enum, String, inspect
from sqlalchemy.orm import Mapper, Session

from tenantry.errors import TenantryError
from tenantry.hooks import SessionFactory, listen


class ValueTooLong(TenantryError):
    """A text value is longer than its column's declared length."""

    code = "invalid_value"
    status = 422


_BOUNDED: dict[type, tuple[tuple[str, str, int], ...]] = {}


def bounded_columns(cls: type) -> tuple[tuple[str, str, int], ...]:
    """``(attribute, table.column, length)`` of ``cls``'s columns with a declared length."""
    known = _BOUNDED.get(cls)
    if known is not None:
        return known
    found = []
    mapper: Mapper[Any] = inspect(cls)
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        kind = column.type
        if isinstance(kind, String) and not isinstance(kind, Enum) and kind.length:
            table = getattr(column, "table", None)
            name = f"{table.name}.{column.name}" if table is not None else column.name
            found.append((prop.key, name, kind.length))
    known = _BOUNDED[cls] = tuple(found)
    return known


def _check(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.new:
        for key, name, length in bounded_columns(type(obj)):
            _refuse_long(obj.__dict__.get(key), name, length)
    for obj in session.dirty:
        bounded = bounded_columns(type(obj))
        if not bounded:
            continue
        # Only what the change sets: a row stored too long before (SQLite, or before this
        # check) must not make every later edit of its other columns fail.
        changes = inspect(obj).attrs
        for key, name, length in bounded:
            for value in changes[key].history.added:
                _refuse_long(value, name, length)


def _refuse_long(value: object, name: str, length: int) -> None:
    if isinstance(value, str) and len(value) > length:
        raise ValueTooLong(
            f"{name} holds at most {length} characters",
            details={"column": name, "max_length": length},
        )


def install_lengths(factory: SessionFactory) -> None:
    """Refuse, before the flush, ORM writes longer than their columns' lengths."""
    listen(factory, "before_flush", _check)
