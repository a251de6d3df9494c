"""A tiny tenant-owned schema used only by the tests: notes and their tags."""

from __future__ import annotations

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tenantry.models import Base, TenantScoped, tenant_foreign_key


class Note(TenantScoped, Base):
    __tablename__ = "test_notes"

    body: Mapped[str] = mapped_column(String(200))
    # No backref, on purpose: a tag appended here changes only in the flush, when its
    # key is synced (tests/tenantry/test_scoping.py).
    tags: Mapped[list[NoteTag]] = relationship()


class NoteTag(TenantScoped, Base):
    __tablename__ = "test_note_tags"
    __table_args__ = (
        tenant_foreign_key("note_id", "test_notes"),
        UniqueConstraint("tenant_id", "label"),
    )

    note_id: Mapped[int]  # a row id's type (BIGINT on PostgreSQL) comes with the reference
    label: Mapped[str] = mapped_column(String(40))
