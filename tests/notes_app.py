"""A tiny tenant-aware app used by the core's tests: notes with comments.

It is built exactly as a user's app would be: TenantScoped models, role aliases
in route signatures, no tenant_id anywhere in route code.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from tenantry.context import TenantContext
from tenantry.db import Database
from tenantry.errors import NotFound
from tenantry.models import Base, TenantScoped, tenant_foreign_key
from tenantry.models.base import RowId
from tenantry.web import (
    AsyncDbSession,
    DbSession,
    MemberContext,
    Tenancy,
    ViewerContext,
    add_routes,
    get_tenancy,
)


class AppNote(TenantScoped, Base):
    __tablename__ = "app_notes"

    body: Mapped[str] = mapped_column(String(200))
    comments: Mapped[list[AppComment]] = relationship(back_populates="note")


class AppComment(TenantScoped, Base):
    __tablename__ = "app_comments"
    __table_args__ = (tenant_foreign_key("note_id", "app_notes"),)

    note_id: Mapped[int] = mapped_column(RowId)
    text: Mapped[str] = mapped_column(String(200))
    note: Mapped[AppNote] = relationship(back_populates="comments")


class TicketState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class AppTicket(TenantScoped, Base):
    """A number unique in its tenant, as a tracker's ticket number: rows seeded for the
    attack must differ in it. Its author and state are required: an import must find the
    author, the attack kit must seed a state."""

    __tablename__ = "app_tickets"
    __table_args__ = (UniqueConstraint("tenant_id", "number"),)

    number: Mapped[int]
    opened_by: Mapped[int] = mapped_column(ForeignKey("tenantry_users.id"))
    state: Mapped[TicketState]
    attachment: Mapped[bytes | None]  # LargeBinary
    estimate: Mapped[timedelta | None]  # Interval
    # SQLAlchemy's own date-time types, as an app declares them without tenantry's
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    local_at: Mapped[datetime | None] = mapped_column(DateTime(), default=None)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=200)


class NoteOut(BaseModel):
    id: int
    body: str


router = APIRouter(prefix="/api/notes")


@router.get("")
async def list_notes(ctx: ViewerContext, session: DbSession) -> list[NoteOut]:
    rows = session.execute(select(AppNote.id, AppNote.body).order_by(AppNote.id))
    return [NoteOut(id=i, body=b) for i, b in rows]


@router.post("", status_code=201)
async def create_note(body: NoteIn, ctx: MemberContext, session: DbSession) -> NoteOut:
    note = AppNote(body=body.body)
    session.add(note)
    session.flush()
    return NoteOut(id=note.id, body=note.body)


def add_note_job(session: Session, ctx: TenantContext, *, body: str) -> None:
    """A background job: the note lands in the job's tenant, stamped by the scoping hook."""
    session.add(AppNote(body=body))


@router.post("/later", status_code=202)
async def create_note_later(body: NoteIn, ctx: MemberContext, request: Request) -> dict[str, str]:
    job_id = await get_tenancy(request).jobs.enqueue("notes.add", ctx, body=body.body)
    return {"job_id": job_id}


def _get(session: DbSession, tenant_id: object, note_id: int) -> AppNote:
    note = session.get(AppNote, (tenant_id, note_id))
    if note is None:
        raise NotFound("note not found")
    return note


@router.get("/{note_id}")
async def read_note(note_id: int, ctx: ViewerContext, session: DbSession) -> NoteOut:
    note = _get(session, ctx.tenant_id, note_id)
    return NoteOut(id=note.id, body=note.body)


@router.put("/{note_id}")
async def update_note(
    note_id: int, body: NoteIn, ctx: MemberContext, session: DbSession
) -> NoteOut:
    note = _get(session, ctx.tenant_id, note_id)
    note.body = body.body
    return NoteOut(id=note.id, body=note.body)


@router.delete("/{note_id}", status_code=204)
async def delete_note(note_id: int, ctx: MemberContext, session: DbSession) -> Response:
    session.delete(_get(session, ctx.tenant_id, note_id))
    return Response(status_code=204)


# The same resource for async apps: AsyncSession routes behind the same walls.
async_router = APIRouter(prefix="/api/anotes")


async def _aget(session: AsyncDbSession, tenant_id: object, note_id: int) -> AppNote:
    note = await session.get(AppNote, (tenant_id, note_id))
    if note is None:
        raise NotFound("note not found")
    return note


@async_router.get("")
async def alist_notes(ctx: ViewerContext, session: AsyncDbSession) -> list[NoteOut]:
    rows = await session.execute(select(AppNote.id, AppNote.body).order_by(AppNote.id))
    return [NoteOut(id=i, body=b) for i, b in rows]


@async_router.post("", status_code=201)
async def acreate_note(body: NoteIn, ctx: MemberContext, session: AsyncDbSession) -> NoteOut:
    note = AppNote(body=body.body)
    session.add(note)
    await session.flush()
    return NoteOut(id=note.id, body=note.body)


@async_router.get("/{note_id}")
async def aread_note(note_id: int, ctx: ViewerContext, session: AsyncDbSession) -> NoteOut:
    note = await _aget(session, ctx.tenant_id, note_id)
    return NoteOut(id=note.id, body=note.body)


@async_router.put("/{note_id}")
async def aupdate_note(
    note_id: int, body: NoteIn, ctx: MemberContext, session: AsyncDbSession
) -> NoteOut:
    note = await _aget(session, ctx.tenant_id, note_id)
    note.body = body.body
    return NoteOut(id=note.id, body=note.body)


@async_router.delete("/{note_id}", status_code=204)
async def adelete_note(note_id: int, ctx: MemberContext, session: AsyncDbSession) -> Response:
    await session.delete(await _aget(session, ctx.tenant_id, note_id))
    return Response(status_code=204)


class NotesPlugin:
    """The test app as a server plugin; its tables come from ``create_all`` in tests."""

    name = "notes"

    @property
    def migrations(self) -> Sequence[Path]:
        return []

    def install(self, app: FastAPI, tenancy: Tenancy) -> None:
        tenancy.jobs.job("notes.add")(add_note_job)
        add_routes(app, router)
        add_routes(app, async_router)

    def seed_demo(self, db: Database, tenancy: Tenancy) -> list[str]:
        return []
