"""The ORM scoping wall: every statement shape, from a second tenant, and failing closed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import (
    bindparam,
    column,
    delete,
    func,
    insert,
    select,
    table,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased, make_transient_to_detached

from tenantry.context import tenant_scope
from tenantry.db import Database
from tenantry.errors import CrossTenantWrite, NoTenantContext
from tenantry.models import AuditEvent, Tenant
from tenantry.scoping import SessionTenantMismatch, unscoped
from tenantry_server.settings import Settings
from tests.notes_app import AppComment as Comment
from tests.notes_app import AppNote as Note
from tests.support.models import Note as TaggedNote
from tests.support.models import NoteTag
from tests.support.two_tenants import CTX_A, CTX_B, A, B, add_two_tenants


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    add_two_tenants(database)
    with tenant_scope(CTX_A), database.session() as s:
        note = Note(body="a-secret")
        s.add(note)
        s.flush()
        s.add(Comment(note_id=note.id, text="a-comment"))
    with tenant_scope(CTX_B), database.session() as s:
        s.add(Note(body="b-note"))
    yield database
    database.dispose()


def a_note_id(db: Database) -> int:
    with tenant_scope(CTX_A), db.session() as s:
        return s.scalars(select(Note.id)).one()


def test_select_alias_union_join_see_only_own_rows(db: Database) -> None:
    with tenant_scope(CTX_B), db.session() as s:
        assert s.scalars(select(Note.body)).all() == ["b-note"]
        other = aliased(Note)
        assert s.scalars(select(other.body)).all() == ["b-note"]
        assert len(s.execute(select(Note.id).union_all(select(Note.id))).all()) == 2
        assert s.execute(select(Comment).join(Comment.note)).all() == []
        assert s.scalars(select(Comment.text)).all() == []


def test_get_by_key_of_another_tenant_is_none(db: Database) -> None:
    note_id = a_note_id(db)
    with tenant_scope(CTX_B), db.session() as s:
        assert s.get(Note, (A, note_id)) is None


def test_relationship_loads_are_scoped(db: Database) -> None:
    with tenant_scope(CTX_A), db.session() as s:
        note = s.scalars(select(Note)).one()
        assert [c.text for c in note.comments] == ["a-comment"]


def test_bulk_update_and_delete_touch_only_own_rows(db: Database) -> None:
    with tenant_scope(CTX_B), db.session() as s:
        assert s.execute(update(Note).values(body="pwned")).rowcount == 1
        assert s.execute(delete(Comment)).rowcount == 0
    with tenant_scope(CTX_A), db.session() as s:
        assert s.scalars(select(Note.body)).all() == ["a-secret"]
        assert s.scalars(select(Comment.text)).all() == ["a-comment"]


def test_insert_is_stamped_with_the_current_tenant(db: Database) -> None:
    with tenant_scope(CTX_B), db.session() as s:
        note = Note(body="stamped")
        s.add(note)
        s.flush()
        assert note.tenant_id == B


def test_writing_a_row_of_another_tenant_raises(db: Database) -> None:
    note_id = a_note_id(db)
    with tenant_scope(CTX_B), pytest.raises(CrossTenantWrite), db.session() as s:
        s.add(Comment(tenant_id=A, note_id=note_id, text="planted"))
        s.flush()


def test_moving_a_row_to_another_tenant_raises(db: Database) -> None:
    with tenant_scope(CTX_B), pytest.raises(CrossTenantWrite), db.session() as s:
        note = s.scalars(select(Note)).one()
        note.tenant_id = A
        s.flush()


def a_note_of_a_brought_into_a_session(db: Database, how: str) -> Note:
    """A note of tenant A (one with no comments, which would hold it in A) as tenant B
    can hold it: carried out of A's session, or forged."""
    with tenant_scope(CTX_A), db.session() as s:
        plain = Note(body="a-plain")
        s.add(plain)
        s.flush()
        note_id = plain.id
    if how == "forged":  # no access to A needed: its id is enough
        forged = Note(tenant_id=A, id=note_id, body="?")
        make_transient_to_detached(forged)
        return forged
    with tenant_scope(CTX_A), db.session() as s:
        carried = s.get(Note, (A, note_id))
        assert carried is not None
        s.expunge(carried)
        return carried


@pytest.mark.parametrize("how", ["carried", "forged"])
@pytest.mark.parametrize("write", ["update", "delete"])
def test_a_row_of_another_tenant_brought_into_the_session_cannot_be_taken_over(
    db: Database, how: str, write: str
) -> None:
    """Its tenant_id set to B, A's detached note passed the new-value check, and the
    UPDATE (or DELETE) named its stored key: SQLite gave B tenant A's row (PostgreSQL's
    RLS matched no row)."""
    note = a_note_of_a_brought_into_a_session(db, how)
    with tenant_scope(CTX_B), db.session() as s, pytest.raises(CrossTenantWrite):
        s.add(note)
        note.tenant_id, note.body = B, "taken"
        if write == "delete":
            s.delete(note)
        s.flush()
    with tenant_scope(CTX_A), db.session() as s:
        assert sorted(s.scalars(select(Note.body))) == ["a-plain", "a-secret"]
    with tenant_scope(CTX_B), db.session() as s:
        assert s.scalars(select(Note.body)).all() == ["b-note"]


def test_a_row_of_another_tenant_appended_to_a_collection_is_not_moved(db: Database) -> None:
    """With no backref, the appended row changes only in the flush, after the
    before_flush check, when its key ``(tenant_id, note_id)`` is synced to the parent's:
    SQLite moved A's tag to B (PostgreSQL's RLS matched no row)."""
    with tenant_scope(CTX_A), db.session() as s:
        a_note = TaggedNote(body="a")
        s.add(a_note)
        s.flush()
        tag = NoteTag(note_id=a_note.id, label="a-tag")
        s.add(tag)
        s.flush()
        s.expunge(tag)
    with tenant_scope(CTX_B), db.session() as s:
        s.add(TaggedNote(body="b"))
    with tenant_scope(CTX_B), db.session() as s, pytest.raises(CrossTenantWrite):
        b_note = s.scalars(select(TaggedNote)).one()
        s.add(tag)
        b_note.tags.append(tag)
        s.flush()
    with tenant_scope(CTX_A), db.session() as s:
        assert s.scalars(select(NoteTag.label)).all() == ["a-tag"]
    with tenant_scope(CTX_B), db.session() as s:
        assert s.scalars(select(NoteTag.label)).all() == []


def test_database_refuses_a_cross_tenant_reference(db: Database) -> None:
    note_id = a_note_id(db)
    with pytest.raises(Exception, match=r"(?i)foreign key"), db.engine.begin() as conn:
        if not db.is_sqlite:
            # Pass RLS as tenant B, so the foreign key is what refuses the row.
            conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(B)})
        conn.execute(
            text("INSERT INTO app_comments (tenant_id, id, note_id, text) VALUES (:t, 1, :n, 'x')"),
            {"t": B.hex, "n": note_id},
        )


@pytest.mark.parametrize(
    "statement",
    [
        select(Note),
        select(Note.id),
        select(Tenant).join(Note, Note.tenant_id == Tenant.id),
        update(Note).values(body="x"),
        delete(Comment),
    ],
    ids=["entity", "column", "join-from-core-table", "update", "delete"],
)
def test_no_context_fails_closed(db: Database, statement: object) -> None:
    with pytest.raises(NoTenantContext), db.session() as s:
        s.execute(statement)  # type: ignore[call-overload]


def test_a_statement_built_once_fails_closed_every_time(db: Database) -> None:
    # The check's answer is remembered per statement object: it must stay a refusal.
    statement, control = select(Note.id), select(Tenant.id)
    for _ in range(3):
        with pytest.raises(NoTenantContext), db.session() as s:
            s.execute(statement)
        with db.session() as s:
            s.execute(control)  # control tables need no tenant, each time


def test_a_statement_built_once_serves_each_tenant_its_own_rows(db: Database) -> None:
    statement = select(Note.body).order_by(Note.id)  # as a module constant would be
    for ctx, body in [(CTX_A, "a-secret"), (CTX_B, "b-note")] * 3:
        with tenant_scope(ctx), db.read_sessions() as s:
            assert s.scalars(statement).all() == [body]
    with pytest.raises(NoTenantContext), db.session() as s:
        s.execute(statement)  # and with no tenant it still fails closed


def test_the_tenant_parameter_cannot_be_passed_in(db: Database) -> None:
    """The tenant reaches the criterion as a bind parameter: a caller naming it gets
    its own tenant's rows all the same."""
    with tenant_scope(CTX_B), db.session() as s:
        rows = s.scalars(select(Note.body), {"tenantry_tenant_id": A}).all()
        assert rows == ["b-note"]


def test_a_bulk_update_by_primary_key_stays_scoped(db: Database) -> None:
    """Loader criteria do not reach an update keyed by each row's primary key (SQLite let
    this one write into tenant A; PostgreSQL's row-level security stopped it)."""
    note_id = a_note_id(db)
    with tenant_scope(CTX_B), db.session() as s:
        b_id = s.scalars(select(Note.id)).one()
        rows = [{"tenant_id": A, "id": note_id, "body": "pwned"}]
        rows.append({"tenant_id": B, "id": b_id, "body": "b-edited"})
        with pytest.raises(CrossTenantWrite):
            s.execute(update(Note), rows)
        s.execute(update(Note), rows[1:])  # its own rows only: allowed
    with tenant_scope(CTX_A), db.session() as s:
        assert s.scalars(select(Note.body)).all() == ["a-secret"]
    with tenant_scope(CTX_B), db.session() as s:
        assert s.scalars(select(Note.body)).all() == ["b-edited"]


def test_an_update_cannot_move_rows_to_another_tenant(db: Database) -> None:
    """The criterion picks this tenant's rows; a SET of tenant_id would hand them to
    another (SQLite moved B's note into A; PostgreSQL's policy refused it as a 500)."""
    into_a = select(Tenant.id).where(Tenant.slug == "a").scalar_subquery()
    moves = [
        (update(Note).values(tenant_id=A), None),
        (update(Note).values({Note.tenant_id: A, Note.body: "moved"}), None),
        (update(Note).values(tenant_id=into_a), None),  # an expression names no tenant
        (update(Note).where(Note.body == "b-note"), {"tenant_id": A}),
    ]
    for statement, params in moves:
        with tenant_scope(CTX_B), db.session() as s, pytest.raises(CrossTenantWrite):
            s.execute(statement, params)
    with tenant_scope(CTX_B), db.session() as s:  # its own tenant: a plain update
        s.execute(update(Note).values(tenant_id=B, body="b-kept"))
    with tenant_scope(CTX_A), db.session() as s:
        assert s.scalars(select(Note.body)).all() == ["a-secret"]
    with tenant_scope(CTX_B), db.session() as s:
        assert s.scalars(select(Note.body)).all() == ["b-kept"]


def test_an_insert_naming_a_tenant_in_its_values_is_checked_like_its_parameters(
    db: Database,
) -> None:
    with tenant_scope(CTX_B), db.session() as s:
        s.execute(insert(Note).values(tenant_id=B, body="b-values"))
        s.execute(insert(Note).values([{"tenant_id": B, "body": "b-multi"}]))
        for planted in (
            insert(Note).values(tenant_id=A, body="planted"),
            insert(Note).values([{"tenant_id": B, "body": "b"}, {"tenant_id": A, "body": "a"}]),
            insert(Note).values(body="no tenant named"),
        ):
            with pytest.raises(CrossTenantWrite):
                s.execute(planted)
    with tenant_scope(CTX_A), db.session() as s:
        assert s.scalars(select(Note.body)).all() == ["a-secret"]
    with tenant_scope(CTX_B), db.session() as s:
        assert sorted(s.scalars(select(Note.body))) == ["b-multi", "b-note", "b-values"]


@pytest.mark.parametrize(
    ("statement", "params"),
    [
        (insert(Note).values(tenant_id=bindparam("t", B), body="planted"), {"t": A}),
        (update(Note).values(tenant_id=bindparam("t", B)), {"t": A}),
        (update(Note).values(tenant_id=bindparam("t", B)), {"t": A, "tenant_id": B}),
        (update(Note).values(tenant_id=bindparam("t", B, unique=True)), {"tenant_id": A}),
        (
            insert(Note).values([{"tenant_id": B, "body": "b"}, {"tenant_id": B, "body": "x"}]),
            {"tenant_id_m1": A},
        ),
    ],
    ids=["insert", "update", "update-column-key-too", "update-unique-bind", "multi-row"],
)
def test_a_tenant_in_a_bind_parameter_is_checked_as_sent(
    db: Database, statement: object, params: dict[str, object]
) -> None:
    """The check read a bind's own value, but a parameter given at execution under the
    bind's name replaces it: SQLite took rows into (and moved B's rows to) tenant A;
    PostgreSQL's RLS refused."""
    with tenant_scope(CTX_B), db.session() as s, pytest.raises(CrossTenantWrite):
        s.execute(statement, params)  # type: ignore[call-overload]
    with tenant_scope(CTX_B), db.session() as s:  # sent as its own tenant: allowed
        s.execute(insert(Note).values(tenant_id=bindparam("t", A), body="b-bound"), {"t": B})
    with tenant_scope(CTX_A), db.session() as s:
        assert s.scalars(select(Note.body)).all() == ["a-secret"]
    with tenant_scope(CTX_B), db.session() as s:
        assert sorted(s.scalars(select(Note.body))) == ["b-bound", "b-note"]


@pytest.mark.parametrize(
    "set_",
    [{"tenant_id": A, "body": "pushed"}, {Note.tenant_id: A}, {"tenant_id": B}],
    ids=["another-tenant", "by-attribute", "its-own-tenant-too"],
)
def test_an_upsert_cannot_set_the_tenant_of_the_row_it_updates(
    db: Database, set_: dict[object, object]
) -> None:
    """``ON CONFLICT DO UPDATE SET tenant_id`` rewrites the row already there, which the
    check of the inserted rows never saw (SQLite moved B's note into A; PostgreSQL's RLS
    refused)."""
    upsert = sqlite_insert if db.is_sqlite else postgresql_insert
    with tenant_scope(CTX_B), db.session() as s:
        b_id = s.scalars(select(Note.id)).one()
        row = upsert(Note).values(tenant_id=B, id=b_id, body="x")
        with pytest.raises(CrossTenantWrite):
            s.execute(row.on_conflict_do_update(index_elements=["tenant_id", "id"], set_=set_))
        s.execute(
            row.on_conflict_do_update(index_elements=["tenant_id", "id"], set_={"body": "up"})
        )
    with tenant_scope(CTX_A), db.session() as s:
        assert s.scalars(select(Note.body)).all() == ["a-secret"]
    with tenant_scope(CTX_B), db.session() as s:
        assert s.scalars(select(Note.body)).all() == ["up"]


def test_an_upsert_must_conflict_on_a_key_holding_the_tenant(db: Database) -> None:
    """A conflict on a key without ``tenant_id`` can be with another tenant's row, which
    DO UPDATE would rewrite: refused before it runs (DO NOTHING writes nothing: allowed)."""
    upsert = sqlite_insert if db.is_sqlite else postgresql_insert
    with tenant_scope(CTX_B), db.session() as s:
        row = upsert(Note).values(tenant_id=B, id=12345, body="x")
        with pytest.raises(CrossTenantWrite, match="conflict target"):
            s.execute(row.on_conflict_do_update(index_elements=["id"], set_={"body": "up"}))
        s.execute(row.on_conflict_do_nothing(index_elements=["tenant_id", "id"]))
        key = Note.__table__.primary_key.name
        if key is not None and not db.is_sqlite:  # PostgreSQL names its key constraint
            s.execute(row.on_conflict_do_update(constraint=key, set_={"body": "by-name"}))


def test_a_subquery_of_a_tenant_table_inside_an_insert_is_refused(db: Database) -> None:
    """Loader criteria do not reach an INSERT's subqueries: B copied A's note into its own."""
    stolen = select(Note.body).where(Note.body.like("a-%")).limit(1).scalar_subquery()
    with tenant_scope(CTX_B), db.session() as s, pytest.raises(NoTenantContext):
        s.execute(insert(Note).values(tenant_id=B, body=stolen))
    with tenant_scope(CTX_B), db.session() as s:
        assert s.scalars(select(Note.body)).all() == ["b-note"]


def test_the_legacy_bulk_methods_hold_the_wall(db: Database) -> None:
    """``bulk_*`` write without the ORM events scoping listens to: they check rows too."""
    note_id = a_note_id(db)
    with tenant_scope(CTX_B), db.session() as s:
        with pytest.raises(CrossTenantWrite):
            s.bulk_update_mappings(Note, [{"tenant_id": A, "id": note_id, "body": "pwned"}])
        with pytest.raises(CrossTenantWrite):
            s.bulk_insert_mappings(Note, [{"tenant_id": A, "id": 7, "body": "planted"}])
        with pytest.raises(CrossTenantWrite):
            s.bulk_save_objects([Note(tenant_id=A, id=8, body="planted")])
        s.bulk_insert_mappings(Note, [{"tenant_id": B, "id": 9, "body": "b-bulk"}])
        s.bulk_save_objects([Tenant(id=uuid.uuid4(), slug="c", name="C")])  # no tenant_id: free
    with pytest.raises(NoTenantContext), db.session() as s:
        s.bulk_insert_mappings(Note, [{"tenant_id": A, "id": 10, "body": "orphan"}])
    with tenant_scope(CTX_A), db.session() as s:
        assert s.scalars(select(Note.body)).all() == ["a-secret"]
    with tenant_scope(CTX_B), db.session() as s:
        assert sorted(s.scalars(select(Note.body))) == ["b-bulk", "b-note"]


def test_no_context_insert_fails_closed(db: Database) -> None:
    with pytest.raises(NoTenantContext), db.session() as s:
        s.add(Note(body="orphan"))


def test_core_statement_on_tenant_table_is_refused_in_context(db: Database) -> None:
    with tenant_scope(CTX_B), pytest.raises(NoTenantContext), db.session() as s:
        s.execute(select(Note.__table__))


NOTES, COMMENTS = Note.__table__, Comment.__table__


@pytest.mark.parametrize(
    "statement",
    [
        select(Comment.text, NOTES.c.body).outerjoin(NOTES, NOTES.c.body != ""),
        select(Comment.text, NOTES.c.body),
        select(Comment.id, select(func.count()).select_from(NOTES).scalar_subquery()),
        select(Note.body, select(func.count()).where(NOTES.c.id > 0).scalar_subquery()),
        select(Comment.id).where(Comment.note_id.in_(select(NOTES.c.id))),
        select(Comment.id).join(NOTES.alias(), true()),
        select(Comment.id).select_from(COMMENTS.join(NOTES, true())),
        select(table("app_notes", column("body"))),
        update(Comment).where(NOTES.c.body == "a-secret").values(text="x"),
    ],
    ids=[
        "outer-join",
        "column",
        "count-subquery",
        "subquery-beside-the-class",
        "in-subquery",
        "core-alias",
        "core-join",
        "lightweight-table",
        "update-where",
    ],
)
def test_a_tenant_table_named_through_core_inside_an_orm_statement_is_refused(
    db: Database, statement: object
) -> None:
    """Loader criteria reach mapped classes only: a Core table or column beside them was an
    unscoped FROM of its own (B read A's note bodies and counted A's rows, on SQLite)."""
    with tenant_scope(CTX_B), pytest.raises(NoTenantContext), db.session() as s:
        s.execute(statement)  # type: ignore[call-overload]
    with pytest.raises(NoTenantContext), db.session() as s:  # and with no tenant at all
        s.execute(statement)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    "statement",
    [
        NOTES.insert().values(tenant_id=A, id=7, body="planted"),
        insert(NOTES).values(tenant_id=B, id=7, body="its own tenant, still Core"),
        insert(table("app_notes", column("tenant_id"), column("id"), column("body"))).values(
            tenant_id=A, id=7, body="planted"
        ),
        insert(Note).values(tenant_id=B, body=select(NOTES.c.body).scalar_subquery()),
    ],
    ids=["table-insert", "insert-of-table", "lightweight-table", "core-subquery-in-values"],
)
def test_an_insert_naming_a_tenant_table_through_core_is_refused(
    db: Database, statement: object
) -> None:
    """A Core insert has no mapper, so its rows were never checked: on SQLite tenant B
    wrote into A, and anyone wrote with no tenant context (PostgreSQL's RLS refused)."""
    with tenant_scope(CTX_B), pytest.raises(NoTenantContext), db.session() as s:
        s.execute(statement)  # type: ignore[call-overload]
    with pytest.raises(NoTenantContext), db.session() as s:
        s.execute(statement)  # type: ignore[call-overload]
    for ctx, body in [(CTX_A, "a-secret"), (CTX_B, "b-note")]:
        with tenant_scope(ctx), db.session() as s:
            assert s.scalars(select(Note.body)).all() == [body]


def test_a_core_column_of_the_mapped_class_in_the_same_statement_stays_scoped(
    db: Database,
) -> None:
    """The ORM's own statements name the class's Core columns (``session.get``'s key): in
    the SELECT of the mapped class they share its scoped FROM. (In a subquery they do not:
    there the table is a FROM of its own, counted above as refused.)"""
    with tenant_scope(CTX_B), db.session() as s:
        assert s.scalars(select(Note.body).where(NOTES.c.body != "")).all() == ["b-note"]
        assert s.scalars(select(func.count(NOTES.c.id)).select_from(Note)).one() == 1


def test_unscoped_sees_all_and_is_audited(db: Database) -> None:
    # unscoped() lifts the ORM wall only: as the app role, RLS still shows no
    # tenant rows outside a tenant (docs/postgres.md).
    expected = ["a-secret", "b-note"] if db.is_sqlite else []
    with db.session() as s, unscoped(s, reason="support ticket 42"):
        assert sorted(s.scalars(select(Note.body))) == expected
    with db.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "unscoped")).one()
        assert event.details == {"reason": "support ticket 42"}


def test_unscoped_needs_a_reason(db: Database) -> None:
    with db.sessions() as s, pytest.raises(ValueError, match="reason"), unscoped(s, reason=" "):
        pass


def test_a_session_never_serves_two_tenants(db: Database) -> None:
    with tenant_scope(CTX_A), db.session() as s:
        s.scalars(select(Note)).all()
        with tenant_scope(CTX_B), pytest.raises(SessionTenantMismatch):
            s.scalars(select(Note)).all()


def test_objects_of_other_tenants_leave_the_identity_map_after_unscoped(db: Database) -> None:
    with tenant_scope(CTX_B), db.session() as s:
        mine = s.scalars(select(Note)).all()
        with unscoped(s, reason="maintenance"):
            everything = s.scalars(select(Note)).all()
        # On PostgreSQL the app role has no tenant inside unscoped(): RLS shows no rows.
        assert len(everything) == (2 if db.is_sqlite else 0)
        assert len(mine) == 1
        bodies = [o.body for o in s.identity_map.values() if isinstance(o, Note)]
        assert bodies == ["b-note"]


def test_a_flush_of_many_new_rows_checks_them_in_one_pass(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Session.new`` builds a set of every pending object at each use: the write check
    asking it once per row made a 20,000-row CSV import's flush take 20 s (n^2)."""
    from sqlalchemy.orm import Session

    asked: list[int] = []
    original = Session.new

    def counted(session: Session) -> object:
        asked.append(1)
        return original.fget(session)  # type: ignore[attr-defined]

    monkeypatch.setattr(Session, "new", property(counted))
    with tenant_scope(CTX_B), db.session() as s:
        s.add_all(Note(body=f"n{i}") for i in range(300))
        s.flush()
        flushed = len(asked)
        s.add(Note(body="a", tenant_id=A))  # still refused: another tenant's row
        with pytest.raises(CrossTenantWrite):
            s.flush()
        s.rollback()
    assert flushed < 30  # each write hook asks once or twice, not once per row
    with tenant_scope(CTX_B), db.session() as s:
        assert s.scalar(select(func.count()).select_from(Note)) == 1  # b-note; rolled back
