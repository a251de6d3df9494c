"""List-page parameters (dates, sort, page number) and the notices shown after a change."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from meterbook.api.listing import date_range
from meterbook.services.common import Page
from tenantry.errors import ValidationFailed

PER_PAGE = 25
MAX_PAGE = 1_000_000  # a page number past any list: an empty page, not an offset SQL refuses
NOTICES = {
    "added": "Saved.",
    "updated": "Changes saved.",
    "deleted": "Deleted.",
    "imported": "Import complete.",
}


@dataclass(frozen=True, slots=True)
class ListQuery:
    start: str = ""
    end: str = ""
    sort: str = "-date"
    page: int = 1

    def to_page(self, sorts: set[str]) -> Page:
        """The slice asked for; dates are checked as the API checks them (a 422 naming one).

        Raises:
            ValidationFailed: a date that is not one, out of range, or ``from`` after ``to``.
        """
        sort = self.sort if self.sort.lstrip("-") in sorts else "-date"
        start, end = date_range(self.start or None, self.end or None)
        return Page(
            start=start,
            end=end,
            sort=sort,
            limit=PER_PAGE,
            offset=(min(max(self.page, 1), MAX_PAGE) - 1) * PER_PAGE,
        )

    def link(self, **changes: object) -> str:
        """The query string of this list with some values changed."""
        values: dict[str, object] = {
            "start": self.start,
            "end": self.end,
            "sort": self.sort,
            "page": self.page,
        }
        values.update(changes)
        return "?" + urlencode({k: v for k, v in values.items() if v not in ("", None)})


@dataclass(frozen=True, slots=True)
class Listed:
    """One page of a list, or why the filters asked for none."""

    rows: Sequence[Any]
    total: int
    error: str | None = None


def listed(query: ListQuery, sorts: set[str], fetch: Callable[[Page], tuple[Any, int]]) -> Listed:
    """``fetch`` of the page ``query`` asks for; bad filters give no rows and say why, in the
    form's words (From, To), rather than the whole list as if nothing was asked."""
    try:
        page = query.to_page(sorts)
    except ValidationFailed as exc:
        if isinstance(exc.details, dict) and exc.details.get("reason") == "after_to":
            return Listed([], 0, "From must not be after To.")
        field, _, reason = exc.message.partition(": ")
        return Listed([], 0, f"{field.capitalize()}: {reason}" if reason else exc.message)
    rows, total = fetch(page)
    return Listed(rows, total)


def pages(total: int) -> int:
    return max(1, -(-total // PER_PAGE))


def notice(msg: str) -> str | None:
    return NOTICES.get(msg)
