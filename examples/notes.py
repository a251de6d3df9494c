"""A complete tenant-aware app on tenantry: run `python examples/notes.py`, then use /docs."""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Mapped

from tenantry.db import Database
from tenantry.errors import NotFound
from tenantry.migrations.runner import upgrade
from tenantry.models import Base, TenantScoped
from tenantry.web import DbSession, MemberContext, Tenancy, TenancyConfig, ViewerContext


class Note(TenantScoped, Base):  # primary key (tenant_id, id); every query is scoped
    __tablename__ = "example_notes"
    body: Mapped[str]


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a tenant_id in the body is refused
    body: str


def create_app(database_url: str, secret_key: str) -> FastAPI:
    db = Database(database_url)
    upgrade(db.engine)  # tenantry's tables; yours come from your own Alembic migrations
    Note.__table__.create(db.engine, checkfirst=True)  # brevity: one table, no migration
    app = FastAPI(title="notes")
    Tenancy(db, TenancyConfig(secret_key=secret_key)).install(app)  # /api/auth, /api/tenant…

    @app.get("/notes")
    def list_notes(ctx: ViewerContext, session: DbSession) -> list[str]:
        return list(session.scalars(select(Note.body).order_by(Note.id)))

    @app.post("/notes", status_code=201)
    def add_note(body: NoteIn, ctx: MemberContext, session: DbSession) -> int:
        session.add(note := Note(body=body.body))  # tenant_id is stamped from the context
        session.flush()
        return note.id

    @app.get("/notes/{note_id}")
    def read_note(note_id: int, ctx: ViewerContext, session: DbSession) -> str:
        note = session.get(Note, (ctx.tenant_id, note_id))
        if note is None:  # another tenant's id looks exactly like a missing one
            raise NotFound("note not found")
        return note.body

    return app


if __name__ == "__main__":
    key = os.environ.get("TENANTRY_SECRET_KEY", "example-only-key-" + "x" * 32)
    uvicorn.run(create_app("sqlite:///example.sqlite3", key), port=int(os.getenv("PORT", "8001")))
