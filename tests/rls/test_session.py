"""``install_rls_context`` through ``Database``: pools, commits, and the ORM switched off."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import ProgrammingError

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.ids import TenantId
from tenantry.models import Tenant
from tenantry.roles import Role
from tenantry.scoping import unscoped
from tenantry.testing import scoping_switched_off
from tests.support.databases import TestDatabase
from tests.support.models import Note

pytestmark = pytest.mark.postgres

CURRENT = text("SELECT current_setting('app.tenant_id', true)")


def _ctx(tenant: uuid.UUID) -> TenantContext:
    return TenantContext(tenant_id=TenantId(tenant), user_id=None, role=Role.OWNER)


@pytest.fixture
def db(pg_database: TestDatabase) -> Iterator[Database]:
    database = Database(pg_database.app_url, pool_size=1, max_overflow=0)
    yield database
    database.dispose()


@pytest.fixture
def tenants(db: Database) -> tuple[uuid.UUID, uuid.UUID]:
    a, b = uuid.uuid4(), uuid.uuid4()
    with db.session() as s:
        s.add_all([Tenant(id=a, slug="a", name="A"), Tenant(id=b, slug="b", name="B")])
    for tid in (a, b):
        with tenant_scope(_ctx(tid)), db.session() as s:
            s.add(Note(body=f"note of {tid}"))
    return a, b


@pytest.fixture
def scoping_off() -> Iterator[None]:
    """Switch the ORM wall off, leaving RLS alone (test-only)."""
    with scoping_switched_off():
        yield


def test_pooled_connection_carries_nothing_from_a_to_b(
    db: Database, tenants: tuple[uuid.UUID, uuid.UUID], scoping_off: None
) -> None:
    a, b = tenants
    with tenant_scope(_ctx(a)), db.session() as s:
        pid_a = s.execute(text("SELECT pg_backend_pid()")).scalar()
        assert s.execute(CURRENT).scalar() == str(a)
        assert [n.tenant_id for n in s.scalars(select(Note))] == [a]
    with tenant_scope(_ctx(b)), db.session() as s:
        assert s.execute(text("SELECT pg_backend_pid()")).scalar() == pid_a  # same connection
        assert s.execute(CURRENT).scalar() == str(b)
        assert [n.tenant_id for n in s.scalars(select(Note))] == [b]
    with db.session() as s:  # no tenant at all on the same connection
        assert s.execute(text("SELECT pg_backend_pid()")).scalar() == pid_a
        assert s.execute(CURRENT).scalar() == ""
        assert list(s.scalars(select(Note))) == []


def test_a_commit_mid_session_keeps_the_tenant(
    db: Database, tenants: tuple[uuid.UUID, uuid.UUID], scoping_off: None
) -> None:
    a, _ = tenants
    with tenant_scope(_ctx(a)), db.sessions() as s:
        s.add(Note(tenant_id=a, body="first"))
        s.commit()
        assert s.execute(CURRENT).scalar() == str(a)
        s.add(Note(tenant_id=a, body="second"))
        s.commit()
        s.rollback()
        assert sorted(n.body for n in s.scalars(select(Note))) == [
            "first",
            "note of " + str(a),
            "second",
        ]
        s.commit()


def test_with_scoping_off_rls_alone_hides_other_tenants(
    db: Database, tenants: tuple[uuid.UUID, uuid.UUID], scoping_off: None
) -> None:
    a, b = tenants
    with tenant_scope(_ctx(b)), db.session() as s:
        note_b = s.scalars(select(Note)).one()
        assert note_b.tenant_id == b
    with tenant_scope(_ctx(a)), db.session() as s:
        assert s.get(Note, (b, note_b.id)) is None
        rows = s.execute(text("SELECT tenant_id FROM test_notes")).scalars().all()
        assert rows == [a]
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        tenant_scope(_ctx(a)),
        db.session() as s,
    ):
        s.add(Note(tenant_id=b, body="smuggled"))


def test_unscoped_does_not_open_rls(db: Database, tenants: tuple[uuid.UUID, uuid.UUID]) -> None:
    # The ORM escape hatch is for the ORM wall; the runtime role stays bound by RLS.
    with db.sessions() as s, unscoped(s, reason="test"):
        assert s.execute(CURRENT).scalar() == ""
        assert list(s.scalars(select(Note))) == []
        s.rollback()


def test_tenant_entered_after_the_transaction_began_reaches_postgresql(
    db: Database, tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    """Membership resolution reads the control plane first; the tenant comes later."""
    a, _ = tenants
    with db.session() as s:
        assert s.scalar(select(Tenant.slug).where(Tenant.id == a)) == "a"
        assert s.execute(CURRENT).scalar() == ""
        with tenant_scope(_ctx(a)):
            s.add(Note(body="written in the same transaction"))
            s.flush()
            assert s.execute(CURRENT).scalar() == str(a)
            assert len(s.scalars(select(Note)).all()) == 2


def test_an_autocommit_session_sets_no_tenant_and_sees_no_tenant_rows(
    db: Database, tenants: tuple[uuid.UUID, uuid.UUID], scoping_off: None
) -> None:
    """The membership check runs in autocommit (no transaction, so no local setting): a
    tenant table read there, even in a tenant's scope, shows nothing."""
    a, _ = tenants
    with tenant_scope(_ctx(a)), db.sessions() as s:
        s.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        assert s.scalar(CURRENT) in (None, "")
        assert s.scalars(select(Note)).all() == []
        s.rollback()
        # The next transaction of the same session is back to normal: A's note shows.
        assert [n.body for n in s.scalars(select(Note))] == [f"note of {a}"]
