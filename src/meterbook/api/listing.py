"""Query parameters shared by the list endpoints: date range, sort, limit and offset."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Query

from meterbook.domain.validation import EARLIEST
from meterbook.services.common import Page
from tenantry.errors import ValidationFailed

# ISO dates only: a bare number would otherwise be read as a Unix timestamp (?to=0 → 1970).
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
LATEST = date(9998, 12, 31)  # a day after it must still be a date


def iso_date(text: str | None, field: str) -> date | None:
    """``text`` (``YYYY-MM-DD``) as a date within the range the data can have, or a 422."""
    if text is None:
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            f"{field}: use a date such as 2025-03-01", details={"field": field}
        ) from None
    if not EARLIEST <= value <= LATEST:
        raise ValidationFailed(
            f"{field}: use a date between {EARLIEST.isoformat()} and {LATEST.isoformat()}",
            details={"field": field},
        )
    return value


def date_range(start: str | None, end: str | None) -> tuple[date | None, date | None]:
    """The ``from`` and ``to`` parameters, checked and in order."""
    first, last = iso_date(start, "from"), iso_date(end, "to")
    if first and last and first > last:
        raise ValidationFailed(
            "from: must not be after to", details={"field": "from", "reason": "after_to"}
        )
    return first, last


FromParam = Annotated[
    str | None, Query(alias="from", pattern=ISO_DATE, description="First day (YYYY-MM-DD).")
]
ToParam = Annotated[
    str | None, Query(alias="to", pattern=ISO_DATE, description="Last day (YYYY-MM-DD).")
]


def page_params(sorts: Iterable[str]) -> Callable[..., Awaitable[Page]]:
    """The list dependency for a resource sortable by ``sorts`` (each also with ``-``).

    An unknown ``sort`` is a 422 that names the allowed values (an enum in the schema).
    """
    allowed = tuple(v for key in sorts for v in (f"-{key}", key))
    sort_type: Any = Literal[allowed]

    async def dependency(  # async: pure parsing, no reason to hop to a worker thread
        start: FromParam = None,
        end: ToParam = None,
        sort: str = "-date",  # its real type is set below: a Literal of ``allowed``
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> Page:
        first, last = date_range(start, end)
        return Page(start=first, end=last, sort=sort, limit=limit, offset=offset)

    dependency.__annotations__["sort"] = Annotated[sort_type, Query()]
    return dependency
