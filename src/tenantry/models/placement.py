"""Where a tenant's rows live: the shared tables, or a database of its own."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.models.base import Base, utcnow


class PlacementKind(StrEnum):
    SHARED = "shared"  # rows in the control database's tables, next to other tenants'
    DEDICATED = "dedicated"  # rows in a database of its own (a SQLite file, a PG database)


class PlacementState(StrEnum):
    ACTIVE = "active"
    MOVING = "moving"  # read-only: a move is copying its rows (tenantry.placement.move)


class TenantPlacement(Base):
    """A tenant's placement; a tenant without a row is ``shared`` (the default).

    ``server`` names a server of the placement configuration and ``database``
    the tenant's database there (a file name, a PostgreSQL database name).
    ``target`` is where a move is copying to; ``leftover`` an old copy that
    the move has yet to remove (the tenant is no longer served from it).
    """

    __tablename__ = "tenantry_placements"
    __table_args__ = (Index("ix_tenantry_placements_server", "server"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenantry_tenants.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), default=PlacementKind.SHARED.value)
    server: Mapped[str | None] = mapped_column(String(63), default=None)
    database: Mapped[str | None] = mapped_column(String(255), default=None)
    state: Mapped[str] = mapped_column(String(16), default=PlacementState.ACTIVE.value)
    target: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    leftover: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MoveStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class PlacementMove(Base):
    """The last move an operator asked for, one row per tenant (:mod:`tenantry.placement.moves`).

    The row is the claim: a tenant with a ``running`` move gets no second one.
    ``to`` is what was asked (``shared``, ``dedicated`` and maybe ``server``);
    ``source`` and ``target`` where the rows were and went. ``updated_at`` moves
    with every step of the copy: a ``running`` row that stopped moving belongs
    to a worker that died, and a new request may take the move over.
    """

    __tablename__ = "tenantry_placement_moves"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenantry_tenants.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), default=MoveStatus.RUNNING.value)
    to: Mapped[str] = mapped_column(String(16))
    server: Mapped[str | None] = mapped_column(String(63), default=None)
    source: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    target: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    step: Mapped[str | None] = mapped_column(String(255), default=None)
    error: Mapped[str | None] = mapped_column(String(1000), default=None)
    actor_id: Mapped[int | None] = mapped_column(default=None)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
