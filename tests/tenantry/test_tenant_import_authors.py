"""An import whose rows name an author who has no account here, in a column that cannot
be empty: refused up front with the way out, not by the database half-way. And Enum,
binary and interval columns come back as they left."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from sqlalchemy import delete, insert, select

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.export import stream_export
from tenantry.models import Membership, Tenant, User
from tenantry.roles import Role
from tenantry.tenant_import import ImportRefused, import_tenant
from tenantry_server.settings import Settings
from tests.notes_app import AppTicket, TicketState


@pytest.fixture
def exported(settings: Settings) -> Iterator[tuple[Database, bytes]]:
    """A tenant's export whose ticket was opened by a member; then the tenant is gone and
    the member's account has another address, so the import finds no account for them."""
    db = Database(settings.database_url)
    tenant_id = uuid.uuid4()
    with db.session() as session:
        user = User(email="author@example.com", password_hash="x", display_name="Author")
        session.add_all([user, Tenant(id=tenant_id, slug="tickets", name="Tickets")])
        session.flush()
        session.add(Membership(tenant_id=tenant_id, user_id=user.id, role=Role.OWNER.value))
        user_id = user.id
    ctx = TenantContext(tenant_id, None, Role.OWNER)  # type: ignore[arg-type]
    with tenant_scope(ctx), db.session() as session:
        session.add(
            AppTicket(
                number=7,
                opened_by=user_id,
                state=TicketState.OPEN,
                attachment=b"\x00\xffbinary",
                estimate=timedelta(hours=2, seconds=1),
            )
        )
        session.flush()
        document = b"".join(stream_export(session, tenant_id))
    with db.session() as session:
        session.execute(delete(Tenant).where(Tenant.id == tenant_id))
        session.get_one(User, user_id).email = "moved@example.com"
    yield db, document
    db.dispose()


def test_an_author_without_an_account_here_is_refused_before_writing(
    exported: tuple[Database, bytes],
) -> None:
    db, document = exported
    with pytest.raises(ImportRefused) as refused, db.session() as session:
        import_tenant(session, document)
    message = refused.value.message
    assert "app_tickets.opened_by" in message and "create_accounts" in message, message
    assert "NOT NULL" not in message and "refused a row" not in message
    with db.session() as session:
        assert session.scalar(select(Tenant.id).where(Tenant.slug == "tickets")) is None


def test_with_accounts_created_the_author_keeps_the_row(exported: tuple[Database, bytes]) -> None:
    db, document = exported
    with db.session() as session:
        result = import_tenant(session, document, create_accounts=True)
    ctx = TenantContext(result.tenant_id, None, Role.OWNER)  # type: ignore[arg-type]
    with tenant_scope(ctx), db.session() as session:
        ticket = session.scalars(select(AppTicket)).one()
        assert session.get_one(User, ticket.opened_by).email == "author@example.com"
        assert ticket.state is TicketState.OPEN  # the export's "open" read back as the member
        assert ticket.attachment == b"\x00\xffbinary"  # bytes and intervals: the export
        assert ticket.estimate == timedelta(hours=2, seconds=1)  # failed on them


@pytest.fixture
def former(settings: Settings) -> Iterator[tuple[Database, bytes, int]]:
    """A ticket opened by someone who has since left the tenant (a stranger's vet clinic:
    once one vet left, the clinic could not be moved, and the refusal asked for the
    ``--create-accounts`` it had been given). The tenant is then gone here, and the
    former member's account has another address."""
    db = Database(settings.database_url)
    tenant_id = uuid.uuid4()
    with db.session() as session:
        owner = User(email="owner@example.com", password_hash="x")
        gone = User(email="former@example.com", password_hash="x", display_name="Former Vet")
        erased = User(email="x1@erased.invalid", password_hash="x")
        session.add_all([owner, gone, erased, Tenant(id=tenant_id, slug="clinic", name="C")])
        session.flush()
        session.add(Membership(tenant_id=tenant_id, user_id=owner.id, role=Role.OWNER.value))
        ids = owner.id, gone.id, erased.id
    ctx = TenantContext(tenant_id, None, Role.OWNER)  # type: ignore[arg-type]
    with tenant_scope(ctx), db.session() as session:
        for number, author in enumerate(ids):
            session.add(AppTicket(number=number, opened_by=author, state=TicketState.OPEN))
        session.flush()
        document = b"".join(stream_export(session, tenant_id))
    with db.session() as session:
        session.execute(delete(Tenant).where(Tenant.id == tenant_id))
        session.get_one(User, ids[1]).email = "moved@example.com"
    yield db, document, ids[2]
    db.dispose()


def test_a_former_member_named_by_rows_travels_with_the_export(
    former: tuple[Database, bytes, int],
) -> None:
    db, document, erased_id = former
    people = orjson.loads(document)["people"]
    assert people == [  # not the owner: a member
        {"user_id": erased_id - 1, "email": "former@example.com", "display_name": "Former Vet"},
        {"user_id": erased_id, "email": "x1@erased.invalid", "display_name": ""},
    ]
    with pytest.raises(ImportRefused) as refused, db.session() as session:
        import_tenant(session, document)
    message = refused.value.message  # was: "names a member … import with create_accounts"
    assert "app_tickets.opened_by names someone who is not a member" in message, message
    with db.session() as session:
        result = import_tenant(session, document, create_accounts=True)
    person, placeholder = result.people
    assert (person.email, person.status) == ("former@example.com", "created")
    assert placeholder.status == "erased" and placeholder.user_id != erased_id
    ctx = TenantContext(result.tenant_id, None, Role.OWNER)  # type: ignore[arg-type]
    with tenant_scope(ctx), db.session() as session:
        authors = {n: a for n, a in session.execute(select(AppTicket.number, AppTicket.opened_by))}
        assert session.get_one(User, authors[1]).email == "former@example.com"
        members = session.scalars(
            select(Membership.user_id).where(Membership.tenant_id == ctx.tenant_id)
        )
        assert person.user_id not in set(members)  # an account, not a membership
        erased = session.get_one(User, authors[2])  # a placeholder of its own, as erasure
        assert erased.is_erased and erased.id == placeholder.user_id  # leaves one


def test_sqlalchemys_date_times_keep_their_instant_and_travel(settings: Settings) -> None:
    """A stranger's vet clinic on SQLite: ``23:30-05:00`` in a ``DateTime(timezone=True)``
    column was stored as 23:30 (PostgreSQL: 04:30 UTC the next day), exported without an
    offset, and refused by the import; a ``DateTime()`` column could not be imported at all
    (an offset was required)."""
    db = Database(settings.database_url)
    tenant_id = uuid.uuid4()
    with db.session() as session:
        user = User(email="vet@example.com", password_hash="x")
        session.add_all([user, Tenant(id=tenant_id, slug="vets", name="Vets")])
        session.flush()
        session.add(Membership(tenant_id=tenant_id, user_id=user.id, role=Role.OWNER.value))
        author = user.id
    evening = datetime(2025, 3, 3, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    ctx = TenantContext(tenant_id, None, Role.OWNER)  # type: ignore[arg-type]
    with tenant_scope(ctx), db.session() as session:
        ticket = AppTicket(number=1, opened_by=author, state=TicketState.OPEN, due_at=evening)
        ticket.local_at = datetime(2025, 3, 3, 9, 0)  # a wall-clock time: no zone
        session.add(ticket)
    with tenant_scope(ctx), db.session() as session:
        due, local = session.execute(select(AppTicket.due_at, AppTicket.local_at)).one()
        assert due == evening and due.utcoffset() is not None  # the same instant, aware
        # Core too: the column's type keeps the instant, not an ORM hook
        number = session.execute(
            insert(AppTicket)
            .values(
                tenant_id=tenant_id,
                number=2,
                opened_by=author,
                state=TicketState.OPEN,
                due_at=evening,
            )
            .returning(AppTicket.number)
        ).scalar_one()
        assert session.scalar(select(AppTicket.due_at).where(AppTicket.number == number)) == evening
        session.execute(delete(AppTicket).where(AppTicket.number == number))
        assert local == datetime(2025, 3, 3, 9, 0)
        document = b"".join(stream_export(session, tenant_id))
    [row] = orjson.loads(document)["tables"]["app_tickets"]
    assert row["due_at"] == "2025-03-04T04:30:00+00:00" and row["local_at"] == "2025-03-03T09:00:00"
    with db.session() as session:
        session.execute(delete(Tenant).where(Tenant.id == tenant_id))
    with db.session() as session:
        result = import_tenant(session, document)  # was: refused, no UTC offset
    assert result.verification.ok
    with tenant_scope(TenantContext(result.tenant_id, None, Role.OWNER)), db.session() as session:  # type: ignore[arg-type]
        due, local = session.execute(select(AppTicket.due_at, AppTicket.local_at)).one()
        assert due == evening
        assert local == datetime(2025, 3, 3, 9, 0)
    db.dispose()
