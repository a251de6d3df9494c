"""List-page parameters (dates, sort, page number) and the notices shown after a change."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from meterbook.api.listing import date_range
from meterbook.services.common import Page

PER_PAGE = 25
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
            offset=(max(self.page, 1) - 1) * PER_PAGE,
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


def pages(total: int) -> int:
    return max(1, -(-total // PER_PAGE))


def notice(msg: str) -> str | None:
    return NOTICES.get(msg)
