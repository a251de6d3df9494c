"""Declared string lengths and decimal places, held on every backend.

PostgreSQL refuses 50 characters in a ``String(20)`` column; SQLite stores them. The
same app then answered 422 on one backend and 200 on the other, and a tenant exported
from SQLite could not be imported into PostgreSQL. A ``Numeric(12, 2)`` column is worse:
PostgreSQL rounds ``1.005`` to ``1.01`` without a word while the route answers what it
was sent. Every ORM write is checked before it is flushed, on both backends, and
refused with the column's name and its length or places (never the value: it is tenant
data). Core statements (``insert(...)`` with a list of rows) are the host's to check.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Enum, Float, Numeric, String, inspect
from sqlalchemy.orm import Mapper, Session

from tenantry.errors import TenantryError
from tenantry.hooks import SessionFactory, listen


class ValueTooLong(TenantryError):
    """A text value is longer than its column's declared length."""

    code = "invalid_value"
    status = 422


class TooManyDecimalPlaces(TenantryError):
    """A number has more decimal places than its column keeps (the database would round)."""

    code = "invalid_value"
    status = 422


# (attribute, table.column, length or places, True for places)
Bound = tuple[str, str, int, bool]
_BOUNDED: dict[type, tuple[Bound, ...]] = {}


def bounded_columns(cls: type) -> tuple[Bound, ...]:
    """``(attribute, table.column, bound, places)`` of ``cls``'s columns with a declared
    length (``places`` false) or a ``Numeric`` scale (``places`` true)."""
    known = _BOUNDED.get(cls)
    if known is not None:
        return known
    found = []
    mapper: Mapper[Any] = inspect(cls)
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        kind = column.type
        table = getattr(column, "table", None)
        name = f"{table.name}.{column.name}" if table is not None else column.name
        if isinstance(kind, String) and not isinstance(kind, Enum) and kind.length:
            found.append((prop.key, name, kind.length, False))
        elif isinstance(kind, Numeric) and not isinstance(kind, Float) and kind.scale is not None:
            found.append((prop.key, name, kind.scale, True))
    known = _BOUNDED[cls] = tuple(found)
    return known


def _check(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.new:
        for key, name, bound, places in bounded_columns(type(obj)):
            _refuse(obj.__dict__.get(key), name, bound, places)
    for obj in session.dirty:
        bounded = bounded_columns(type(obj))
        if not bounded:
            continue
        # Only what the change sets: a row stored too long before (SQLite, or before this
        # check) must not make every later edit of its other columns fail.
        changes = inspect(obj).attrs
        for key, name, bound, places in bounded:
            for value in changes[key].history.added:
                _refuse(value, name, bound, places)


def _refuse(value: object, name: str, bound: int, places: bool) -> None:
    if places:
        _refuse_places(value, name, bound)
    elif isinstance(value, str) and len(value) > bound:
        raise ValueTooLong(
            f"{name} holds at most {bound} characters",
            details={"column": name, "max_length": bound},
        )


def _refuse_places(value: object, name: str, scale: int) -> None:
    if isinstance(value, bool) or not isinstance(value, Decimal | float):
        return  # an int has no places; anything else is the driver's to refuse
    # A float's binary noise (0.1 + 0.2 is 0.30000000000000004) is no decimal place
    # anyone wrote: only a difference a person could see is refused.
    if isinstance(value, float) and abs(value - round(value, scale)) <= 1e-9 * max(1.0, abs(value)):
        return
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    try:
        if not exact.is_finite() or exact == exact.quantize(Decimal(1).scaleb(-scale)):
            return
    except InvalidOperation:
        return  # too many digits to round here: beyond the precision, which the database refuses
    raise TooManyDecimalPlaces(
        f"{name} keeps {scale} decimal place{'' if scale == 1 else 's'}: "
        "the value would be rounded",
        details={"column": name, "max_decimal_places": scale},
    )


def install_lengths(factory: SessionFactory) -> None:
    """Refuse, before the flush, ORM writes longer than their columns' lengths or with more
    decimal places than they keep."""
    listen(factory, "before_flush", _check)
