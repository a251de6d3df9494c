"""``lock_tenant_writes``: one tenant's writers take turns; other tenants do not wait."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tenantry.context import TenantContext, tenant_scope
from tenantry.errors import NoTenantContext, TenantNotFound
from tenantry.ids import TenantId, UserId
from tenantry.roles import Role
from tenantry.scoping import bind_tenant
from tenantry.tenant_writes import lock_tenant_writes
from tenantry.testing import Member
from tests.conftest import only_postgresql


def _context(member: Member) -> TenantContext:
    return TenantContext(TenantId(uuid.UUID(member.tenant_id)), UserId(member.user_id), Role.OWNER)


@contextmanager
def _locked(app: FastAPI, ctx: TenantContext) -> Iterator[Session]:
    """A transaction of ``ctx``'s tenant holding the lock until the block ends."""
    with tenant_scope(ctx), app.state.tenancy.db.sessions() as session:
        bind_tenant(session, ctx)
        lock_tenant_writes(session)
        yield session
        session.rollback()


def _lock_soon(app: FastAPI, ctx: TenantContext) -> None:
    """Take the lock, or fail when it has to wait more than a moment (for the tenant row,
    which is locked first everywhere)."""
    with tenant_scope(ctx), app.state.tenancy.db.sessions() as session:
        bind_tenant(session, ctx)
        session.execute(text("SET LOCAL lock_timeout = '300ms'"))
        lock_tenant_writes(session)
        session.rollback()


@only_postgresql
def test_a_second_writer_of_the_tenant_waits(app: FastAPI, alice: Member) -> None:
    ctx = _context(alice)
    with _locked(app, ctx), pytest.raises(OperationalError, match="lock timeout"):
        _lock_soon(app, ctx)
    _lock_soon(app, ctx)  # released with the transaction


@only_postgresql
def test_another_tenants_writer_does_not_wait(app: FastAPI, alice: Member, bob: Member) -> None:
    with _locked(app, _context(alice)):
        _lock_soon(app, _context(bob))


def test_it_is_taken_again_in_the_same_transaction(app: FastAPI, alice: Member) -> None:
    """Quotas lock the same row before they count: the second take never waits."""
    with _locked(app, _context(alice)) as session:
        lock_tenant_writes(session)


@only_postgresql
def test_it_runs_once_per_transaction_and_again_in_the_next(app: FastAPI, alice: Member) -> None:
    """A route and its service both take the lock: one round trip, not two; the next
    transaction of the same session locks again, and holds it."""
    ctx = _context(alice)
    locks: list[str] = []
    with tenant_scope(ctx), app.state.tenancy.db.sessions() as session:
        bind_tenant(session, ctx)

        def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
            if "FOR UPDATE" in statement:
                locks.append(statement)

        event.listen(session.connection(), "before_cursor_execute", seen)
        lock_tenant_writes(session)
        lock_tenant_writes(session)
        assert len(locks) == 1
        session.commit()
        event.listen(session.connection(), "before_cursor_execute", seen)
        lock_tenant_writes(session)
        assert len(locks) == 2
        with pytest.raises(OperationalError, match="lock timeout"):
            _lock_soon(app, ctx)
        session.rollback()


def test_an_unknown_tenant_is_refused(app: FastAPI, alice: Member) -> None:
    ghost = TenantContext(TenantId(uuid.uuid4()), UserId(alice.user_id), Role.OWNER)
    with tenant_scope(ghost), app.state.tenancy.db.sessions() as session:
        is_postgres = session.connection().dialect.name == "postgresql"
        if is_postgres:  # SQLite locks nothing (BEGIN IMMEDIATE), and so reads nothing
            with pytest.raises(TenantNotFound):
                lock_tenant_writes(session)


def test_no_tenant_fails_closed(app: FastAPI) -> None:
    with app.state.tenancy.db.sessions() as session, pytest.raises(NoTenantContext):
        lock_tenant_writes(session)
