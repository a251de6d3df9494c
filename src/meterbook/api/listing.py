"""Query parameters shared by the list endpoints: date range, sort, limit and offset."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Query

from meterbook.services.common import Page


def page_params(
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    sort: Annotated[str, Query(pattern=r"^-?[a-z_]{1,20}$")] = "-date",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page:
    return Page(start=start, end=end, sort=sort, limit=limit, offset=offset)


PageParams = Annotated[Page, Depends(page_params)]
