"""Bodies of the placement API: where a tenant's rows are, and its last move."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from tenantry.placement.location import Location
from tenantry.placement.moves import MoveView, PlacementView
from tenantry.web.schemas import Input


class LocationOut(BaseModel):
    kind: str
    server: str | None
    database: str | None

    @classmethod
    def of(cls, location: Location) -> LocationOut:
        return cls(kind=location.kind, server=location.server, database=location.database)


class MoveOut(BaseModel):
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

    @classmethod
    def of(cls, move: MoveView) -> MoveOut:
        return cls(
            status=move.status,
            stale=move.stale,
            to=move.to,
            server=move.server,
            source=LocationOut.of(move.source) if move.source else None,
            target=LocationOut.of(move.target) if move.target else None,
            step=move.step,
            error=move.error,
            started_at=move.started_at,
            updated_at=move.updated_at,
            finished_at=move.finished_at,
        )


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
            move=MoveOut.of(view.move) if view.move else None,
        )


class MoveIn(Input):
    to: Literal["shared", "dedicated"]
    server: str | None = Field(default=None, min_length=1, max_length=63)
