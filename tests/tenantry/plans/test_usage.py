"""The usage report's storage estimate, over every kind of column an app may have."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.models import Tenant, User
from tenantry.plans.usage import usage_report
from tenantry.roles import Role
from tenantry_server.settings import Settings
from tests.notes_app import AppTicket, TicketState

CTX = TenantContext(uuid.uuid4(), None, Role.OWNER)  # type: ignore[arg-type]


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    with database.session() as session:
        user = User(email="usage@example.com", password_hash="x", display_name="U")
        session.add_all([user, Tenant(id=CTX.tenant_id, slug="usage", name="Usage")])
        session.flush()
        user_id = user.id
    with tenant_scope(CTX), database.session() as session:
        session.add(AppTicket(number=1, opened_by=user_id, state=TicketState.OPEN))
    yield database
    database.dispose()


def test_a_table_with_an_enum_column_is_measured(db: Database) -> None:
    with tenant_scope(CTX), db.session() as session:
        report = usage_report(session, CTX.tenant_id)  # was: length(ticketstate) on PostgreSQL
    [tickets] = [t for t in report.storage if t.table == "app_tickets"]
    assert tickets.rows == 1 and tickets.bytes > 0
