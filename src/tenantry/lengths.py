"""Declared string lengths, number sizes and decimal places, held on every backend.

PostgreSQL refuses 50 characters in a ``String(20)`` column; SQLite stores them. The
same app then answered 422 on one backend and 200 on the other, and a tenant exported
from SQLite could not be imported into PostgreSQL. Numbers alike: SQLite stores
``12345.67`` in a ``Numeric(5, 2)`` column and 2**40 in an ``Integer`` one, and
``12345678901234567.89`` comes back from its floating point as ``…568.00``. A
``Numeric(12, 2)`` column is worse on PostgreSQL: it rounds ``1.005`` to ``1.01``
without a word while the route answers what it was sent. Every ORM write is checked
before it is flushed, on both backends, and refused with the column's name and its
length, size or places (never the value: it is tenant data). Keys are left to the
database (their values are the ids tenantry makes, or the rows they name). Core
statements (``insert(...)`` with a list of rows) are the host's to check.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from sqlalchemy import BigInteger, Enum, Float, Integer, Numeric, SmallInteger, String, inspect
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


class NumberTooLarge(TenantryError):
    """A number is larger than its column holds (PostgreSQL refuses it; SQLite stored it)."""

    code = "invalid_value"
    status = 422


# (attribute, table.column, check): check(value, table.column) raises when it does not fit
Bound = tuple[str, str, Callable[[object, str], None]]
_BOUNDED: dict[type, tuple[Bound, ...]] = {}


def bounded_columns(cls: type) -> tuple[Bound, ...]:
    """``(attribute, table.column, check)`` of ``cls``'s columns with a declared length,
    a ``Numeric`` precision or scale, or an integer size (keys aside)."""
    known = _BOUNDED.get(cls)
    if known is not None:
        return known
    found = []
    mapper: Mapper[Any] = inspect(cls)
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        table = getattr(column, "table", None)
        name = f"{table.name}.{column.name}" if table is not None else column.name
        check = _check_of(column.type, is_key=column.primary_key or bool(column.foreign_keys))
        if check is not None:
            found.append((prop.key, name, check))
    known = _BOUNDED[cls] = tuple(found)
    return known


# PostgreSQL's integer sizes, in bits: smallint, integer, bigint.
_INTEGER_BITS = ((SmallInteger, 16), (BigInteger, 64), (Integer, 32))


def _check_of(kind: Any, *, is_key: bool) -> Callable[[object, str], None] | None:
    if isinstance(kind, String) and not isinstance(kind, Enum) and kind.length:
        return partial(_refuse_length, length=kind.length)
    if isinstance(kind, Numeric) and not isinstance(kind, Float):
        if kind.scale is None and kind.precision is None:
            return None
        return partial(_refuse_number, precision=kind.precision, scale=kind.scale)
    if isinstance(kind, Integer) and not is_key:
        bits = next(bits for cls, bits in _INTEGER_BITS if isinstance(kind, cls))
        return partial(_refuse_integer, low=-(2 ** (bits - 1)), high=2 ** (bits - 1) - 1)
    return None


def _check(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.new:
        for key, name, check in bounded_columns(type(obj)):
            check(obj.__dict__.get(key), name)
    for obj in session.dirty:
        bounded = bounded_columns(type(obj))
        if not bounded:
            continue
        # Only what the change sets: a row stored too long before (SQLite, or before this
        # check) must not make every later edit of its other columns fail.
        changes = inspect(obj).attrs
        for key, name, check in bounded:
            for value in changes[key].history.added:
                check(value, name)


def _refuse_length(value: object, name: str, *, length: int) -> None:
    if isinstance(value, str) and len(value) > length:
        raise ValueTooLong(
            f"{name} holds at most {length} characters",
            details={"column": name, "max_length": length},
        )


def _refuse_integer(value: object, name: str, *, low: int, high: int) -> None:
    if isinstance(value, int) and not low <= value <= high:
        raise NumberTooLarge(
            f"{name} holds whole numbers from {low} to {high}",
            details={"column": name, "min": low, "max": high},
        )


def _refuse_number(value: object, name: str, *, precision: int | None, scale: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, Decimal | float | int):
        return  # anything else is the driver's to refuse
    if precision is not None:
        digits = precision - (scale or 0)  # before the decimal point
        try:
            large = abs(value) >= 10**digits
        except InvalidOperation:  # NaN: the database's to refuse
            large = False
        if large:
            raise NumberTooLarge(
                f"{name} holds numbers below {10**digits} "
                f"({digits} digit{'' if digits == 1 else 's'} before the decimal point)",
                details={"column": name, "max_integer_digits": digits},
            )
    if scale is not None and not isinstance(value, int):
        _refuse_places(value, name, scale)


def _refuse_places(value: Decimal | float, name: str, scale: int) -> None:
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
    """Refuse, before the flush, ORM writes longer or larger than their columns hold, or
    with more decimal places than they keep."""
    listen(factory, "before_flush", _check)
