"""``TenantScoped``: a column referencing another tenant row holds any row id."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import (
    Column,
    ForeignKeyConstraint,
    Table,
    Uuid,
    bindparam,
    create_engine,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.schema import CreateTable

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.ids import new_row_id
from tenantry.models import Tenant, TenantScoped, UuidText, tenant_foreign_key
from tenantry.roles import Role
from tests.support.databases import TestDatabase
from tests.support.models import Note, NoteTag


class _Local(DeclarativeBase):  # a metadata of its own: nothing here reaches other tests
    pass


Table("tenantry_tenants", _Local.metadata, Column("id", Uuid, primary_key=True))


class _Parent(TenantScoped, _Local):
    __tablename__ = "parents"
    name: Mapped[str]


class _Child(TenantScoped, _Local):
    __tablename__ = "children"
    __table_args__ = (
        tenant_foreign_key("parent_id", "parents"),
        ForeignKeyConstraint(["tenant_id", "other_id"], ["parents.tenant_id", "parents.id"]),
    )
    parent_id: Mapped[int]
    other_id: Mapped[int]
    count: Mapped[int]


def test_references_get_the_row_ids_type_and_other_integers_do_not() -> None:
    ddl = str(CreateTable(_Child.__table__).compile(dialect=postgresql.dialect()))  # type: ignore[arg-type]
    assert "parent_id BIGINT" in ddl
    assert "other_id BIGINT" in ddl  # a hand-written composite key counts too
    assert "count INTEGER" in ddl


def test_a_tag_references_a_note_whose_id_needs_53_bits(database: TestDatabase) -> None:
    # INTEGER parameters overflow past 2**31 on PostgreSQL; SQLite's hold 64 bits.
    db = Database(database.app_url)
    tenant = uuid.uuid4()
    with db.session() as session:
        session.add(Tenant(id=tenant, slug="wide", name="Wide"))
    big = 2**52 + new_row_id() % 1000
    with tenant_scope(TenantContext(tenant, None, Role.OWNER)), db.session() as session:  # type: ignore[arg-type]
        session.add(Note(id=big, body="a note with a wide id"))
        session.flush()
        session.add(NoteTag(note_id=big, label="wide"))
    with tenant_scope(TenantContext(tenant, None, Role.OWNER)), db.session() as session:  # type: ignore[arg-type]
        assert session.scalars(select(NoteTag.note_id)).all() == [big]
    db.dispose()


class _Legacy(TenantScoped, _Local):  # a converted table keyed by the uuid text it had
    __tablename__ = "legacy_cards"
    id: Mapped[uuid.UUID] = mapped_column(UuidText(), primary_key=True, default=uuid.uuid4)
    name: Mapped[str]


def test_a_key_of_uuid_text_is_found_by_its_uuid(database: TestDatabase) -> None:
    """SQLAlchemy's Uuid binds 32 hex digits on SQLite (a uuid on PostgreSQL): a row of a
    converted table, keyed by the dashed text the legacy app wrote, was never found."""
    engine = create_engine(database.owner_url)
    tenant, key = uuid.uuid4(), uuid.uuid4()
    with Session(engine) as session:
        session.add(Tenant(id=tenant, slug="legacy", name="Legacy"))
        session.commit()
    with engine.begin() as conn:
        _Legacy.__table__.create(conn)  # type: ignore[attr-defined]
        legacy = text("INSERT INTO legacy_cards (tenant_id, id, name) VALUES (:t, :i, 'old')")
        conn.execute(legacy.bindparams(bindparam("t", type_=Uuid())), {"t": tenant, "i": str(key)})
    with Session(engine) as session:
        found = session.get(_Legacy, (tenant, key))
        assert found is not None and found.id == key and found.name == "old"
        session.add(_Legacy(tenant_id=tenant, name="new"))
        session.commit()
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT id FROM legacy_cards WHERE name = 'new'").scalar()
    assert isinstance(stored, str) and len(stored) == 36 and uuid.UUID(stored)
    engine.dispose()


@pytest.mark.parametrize("action", ["SET NULL", "set default"])
def test_a_tenant_reference_that_would_set_the_tenant_is_refused(action: str) -> None:
    """Found by an outside tester: ondelete="SET NULL" was accepted, and deleting the parent
    then failed on both backends (it set tenant_id, part of the key, to NULL)."""
    with pytest.raises(ValueError, match="would set tenant_id too"):
        tenant_foreign_key("folder_id", "folders", ondelete=action)
    with pytest.raises(ValueError, match="would set tenant_id too"):
        tenant_foreign_key("folder_id", "folders", onupdate=action)
