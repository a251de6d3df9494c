"""An import whose rows name an author who has no account here, in a column that cannot
be empty: refused up front with the way out, not by the database half-way. And Enum,
binary and interval columns come back as they left."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

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
