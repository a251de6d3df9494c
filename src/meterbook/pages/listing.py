"""List-page parameters (dates, sort, page number) and the notices shown after a change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from meterbook.services.common import Page

PER_PAGE = 25
NOTICES = {
    "added": "Saved.",
    "updated": "Changes saved.",
    "deleted": "Deleted.",
    "imported": "Import complete.",
}


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ListQuery:
    start: str = ""
    end: str = ""
    sort: str = "-date"
    page: int = 1

    def to_page(self, sorts: set[str]) -> Page:
        sort = self.sort if self.sort.lstrip("-") in sorts else "-date"
        return Page(
            start=_date(self.start),
            end=_date(self.end),
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
