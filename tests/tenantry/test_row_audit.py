"""The row audit's per-model switches: ``__audit__ = False`` records nothing for that model,
``__audit_values__ = True`` records the values as well as the field names."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.ids import TenantId
from tenantry.models import AuditEvent, Tenant
from tenantry.roles import Role
from tests.support.databases import TestDatabase
from tests.support.models import Note, NoteTag


@pytest.fixture
def db(database: TestDatabase) -> Iterator[Database]:
    opened = Database(database.app_url)
    yield opened
    opened.dispose()


@pytest.fixture
def tenant(db: Database) -> uuid.UUID:
    tenant_id = uuid.uuid4()
    with db.session() as session:
        session.add(Tenant(id=tenant_id, slug="casa", name="Casa"))
    return tenant_id


def _ctx(tenant_id: uuid.UUID) -> TenantContext:
    return TenantContext(tenant_id=TenantId(tenant_id), user_id=None, role=Role.OWNER)


def _write_read_delete(db: Database, tenant_id: uuid.UUID) -> list[tuple[str, str, Any]]:
    """Create a note and a tag, change the note, delete both; the row events, in order."""
    with tenant_scope(_ctx(tenant_id)):
        with db.session() as session:
            note = Note(body="first words")
            session.add(note)
            session.flush()
            session.add(NoteTag(note_id=note.id, label="kitchen"))
        with db.session() as session:
            session.scalars(select(Note)).one().body = "second words"
        with db.session() as session:
            for tag in session.scalars(select(NoteTag)):
                session.delete(tag)
            session.flush()
            session.delete(session.scalars(select(Note)).one())
    with db.session() as session:
        events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.tenant_id == tenant_id, AuditEvent.action.like("row.%"))
            .order_by(AuditEvent.id)
        )
        return [(e.action, (e.target or "").split(":")[0], e.details) for e in events]


def test_by_default_field_names_only(db: Database, tenant: uuid.UUID) -> None:
    notes = [e for e in _write_read_delete(db, tenant) if e[1] == "test_notes"]
    assert notes == [
        ("row.created", "test_notes", {"fields": ["body"]}),
        ("row.updated", "test_notes", {"fields": ["body"]}),
        ("row.deleted", "test_notes", {}),
    ]


def test_a_model_opted_out_records_nothing_and_others_still_do(
    db: Database, tenant: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Note, "__audit__", False, raising=False)
    events = _write_read_delete(db, tenant)
    assert [e for e in events if e[1] == "test_notes"] == []
    assert [(action, table) for action, table, _ in events] == [
        ("row.created", "test_note_tags"),
        ("row.deleted", "test_note_tags"),
    ]


def test_a_model_opted_in_to_values_records_them(
    db: Database, tenant: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Note, "__audit_values__", True, raising=False)
    events = _write_read_delete(db, tenant)
    assert [e for e in events if e[1] == "test_notes"] == [
        ("row.created", "test_notes", {"fields": ["body"], "values": {"body": "first words"}}),
        ("row.updated", "test_notes", {"fields": ["body"], "values": {"body": "second words"}}),
        ("row.deleted", "test_notes", {}),  # a deletion keeps no values
    ]
    tags = [details for _, table, details in events if table == "test_note_tags"]
    assert tags and all("values" not in d for d in tags)  # only the model that opted in
