"""Helpers every service shares: date ranges, sort keys, and turning rule violations into errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from meterbook.domain import RuleViolation
from tenantry.errors import ValidationFailed


def invalid(exc: RuleViolation) -> ValidationFailed:
    """The core's validation error for a broken domain rule, naming the field."""
    return ValidationFailed(
        f"{exc.field}: {exc.message}", details={"field": exc.field, "reason": exc.message}
    )


@dataclass(frozen=True, slots=True)
class Page:
    """Which slice of a list: dates are inclusive, ``sort`` a column name with optional ``-``."""

    start: date | None = None
    end: date | None = None
    sort: str = "-date"
    limit: int = 50
    offset: int = 0


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def day_after(day: date) -> datetime:
    return day_start(day + timedelta(days=1))


def utcnow() -> datetime:
    return datetime.now(UTC)
