"""Bodies of the placement API: where a tenant's rows are, and its last move."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tenantry.placement.moves import PlacementView
from tenantry.web.schemas import Input


class LocationOut(BaseModel):
    # Read straight off the placement dataclasses: no field list to keep in step by hand.
    model_config = ConfigDict(from_attributes=True)

    kind: str
    server: str | None
    database: str | None


class MoveOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: Literal["running", "done", "failed"]
    stale: bool  # running, but its worker stopped: a new request takes it over
    to: str
    server: str | None
    source: LocationOut | None
    target: LocationOut | None
    step: str | None
    error: str | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class PlacementOut(LocationOut):
    state: str
    read_only: bool
    move: MoveOut | None

    @classmethod
    def of_view(cls, view: PlacementView) -> PlacementOut:
        where = view.location
        return cls(
            kind=where.kind,
            server=where.server,
            database=where.database,
            state=view.state,
            read_only=view.read_only,
            move=MoveOut.model_validate(view.move) if view.move else None,
        )


class MoveIn(Input):
    to: Literal["shared", "dedicated"]
    server: str | None = Field(default=None, min_length=1, max_length=63)
