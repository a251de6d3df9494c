"""Reading an export document's values back into a column's type, strictly.

SQLite keeps whatever it is given (text in an INTEGER column, 500 characters in a
VARCHAR(120)) and hands it back unchanged, so an import's read-back verification
passes and the tenant's pages fail later on a value no route could have written.
Every value is therefore checked here against its column, on every backend, before
it is written: the document's fault is said as such, not as a database error.
"""

from __future__ import annotations

import base64
import enum
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Column, DateTime

BIGINT = 2**63  # the widest integer any backend stores (SQLite's, PostgreSQL's BIGINT)
Reader = Callable[[Any], Any]


class BadValue(ValueError):
    """A value the column cannot hold; the message says what was expected."""


def _shown(value: Any) -> str:
    return f"{value!r:.40}"


def _parsed_datetime(value: Any) -> datetime:
    """An ISO 8601 date-time (text, or a datetime as it is), with or without an offset."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise BadValue(f"expected an ISO 8601 date-time, got {_shown(value)}")


def aware_datetime(value: Any) -> datetime:
    """An ISO 8601 date-time with a UTC offset, as exports write them."""
    parsed = _parsed_datetime(value)
    if parsed.tzinfo is None:
        raise BadValue(f"expected a date-time with its UTC offset, got {_shown(value)}")
    return parsed


def wall_clock_datetime(value: Any) -> datetime:
    """A date-time for a column without a time zone (``DateTime()``), as exports write
    them: naive; one with an offset is taken at that instant in UTC."""
    parsed = _parsed_datetime(value)
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _from_text(kind: type, parse: Callable[[str], Any], expected: str) -> Reader:
    """A value of ``kind`` as it is, or text that ``parse`` reads into one."""

    def read(value: Any) -> Any:
        # A datetime is a date too: it is not taken where a date is expected.
        if isinstance(value, kind) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return parse(value)
            except ValueError:  # binascii.Error is one too
                pass
        raise BadValue(f"expected {expected}, got {_shown(value)}")

    return read


def _integer(value: Any) -> int:
    if type(value) is not int:  # bool is an int too, and 1.5 is not one
        raise BadValue(f"expected a whole number, got {_shown(value)}")
    if not -BIGINT <= value < BIGINT:
        raise BadValue(f"{value} is out of range (64-bit integers)")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadValue(f"expected true or false, got {_shown(value)}")
    return value


def _text(length: int | None) -> Reader:
    def read(value: Any) -> str:
        if not isinstance(value, str):
            raise BadValue(f"expected text, got {_shown(value)}")
        if length is not None and len(value) > length:
            raise BadValue(f"longer than {length} characters ({len(value)})")
        if "\x00" in value:  # PostgreSQL cannot store it: the tenant could never move there
            raise BadValue("text with a NUL character")
        return value

    return read


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise BadValue(f"expected a decimal number, got {_shown(value)}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise BadValue(f"expected a decimal number, got {_shown(value)}") from None
    if not number.is_finite():
        raise BadValue(f"expected a finite decimal number, got {_shown(value)}")
    return number


def _interval(value: Any) -> timedelta:
    """The export writes an interval as its seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadValue(f"expected an interval in seconds, got {_shown(value)}")
    try:
        return timedelta(seconds=value)
    except OverflowError:
        raise BadValue(f"{value} seconds is out of range for an interval") from None


def _member(kind: type[enum.Enum]) -> Reader:
    """The export writes an enum member's value; the column takes the member."""

    def read(value: Any) -> enum.Enum:
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in kind)
            raise BadValue(f"expected one of {allowed}, got {_shown(value)}") from None

    return read


# Readers by the column type's Python type; text, enums and the rest are below.
_READERS: dict[type, Reader] = {
    bool: _boolean,
    int: _integer,
    datetime: aware_datetime,
    date: _from_text(date, date.fromisoformat, "an ISO 8601 date"),
    time: _from_text(time, time.fromisoformat, "an ISO 8601 time"),
    uuid.UUID: _from_text(uuid.UUID, uuid.UUID, "a UUID"),
    Decimal: _decimal,
    # The export writes binary columns as base64 text.
    bytes: _from_text(bytes, lambda text: base64.b64decode(text, validate=True), "base64 text"),
    timedelta: _interval,
}


def _typed(column: Column[Any]) -> Reader:
    if isinstance(column.type, DateTime) and not column.type.timezone:
        return wall_clock_datetime  # an export writes these without an offset
    try:
        python_type: type | None = column.type.python_type
    except NotImplementedError:
        python_type = None
    if python_type is str:
        return _text(getattr(column.type, "length", None))
    if python_type in _READERS:
        return _READERS[python_type]
    if isinstance(python_type, type) and issubclass(python_type, enum.Enum):
        return _member(python_type)
    return lambda value: value  # JSON and types of the apps' own: the database decides


def column_reader(column: Column[Any]) -> Reader:
    """A function turning a document's value into one ``column`` stores, or raising
    :class:`BadValue` (no null where the column needs a value)."""
    typed = _typed(column)
    nullable = bool(column.nullable)

    def read(value: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise BadValue("null where a value is required")
        return typed(value)

    return read
