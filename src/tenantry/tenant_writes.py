"""Serialising one tenant's writers, for rules that read rows and then write on what they read.

A rule such as "no two readings at the same time" or "the meter never runs backwards" is
checked by reading the tenant's rows, then writing. Two transactions of one tenant can both
read before either writes, both pass, and both write: the rule is broken. An app calls
:func:`lock_tenant_writes` before such a check so that the tenant's writers take turns
for the rest of their transactions.
"""

from __future__ import annotations

import uuid
import weakref
from typing import Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from tenantry.errors import NoTenantContext, TenantNotFound
from tenantry.models import Tenant
from tenantry.scoping import session_tenant

# The same row, in the same mode, as the quotas' lock (``load_entitlements(lock=True)``).
_LOCK_TENANT_ROW = select(Tenant.id).where(Tenant.id == bindparam("tenant_id")).with_for_update()

# Where ``Placements.install`` leaves itself in its sessions' ``info``.
PLACEMENTS_INFO = "tenantry.placements"
# The transaction (a weak reference) and tenant that last took the lock in a session.
_HELD = "tenantry.tenant_writes_held"


class _TenantDatabases(Protocol):
    """What :class:`~tenantry.placement.Placements` offers here (no import of placement)."""

    def lock_tenant_database(self, session: Session, tenant_id: uuid.UUID) -> None: ...


def lock_tenant_writes(session: Session, tenant_id: uuid.UUID | None = None) -> None:
    """Make the tenant's other writers wait until this transaction ends; call it before the
    transaction's first write and before reading what a rule checks.

    The lock is the tenant row's ``SELECT … FOR UPDATE``, the one row quotas lock before
    they count: a write that takes this lock and then passes a quota takes the same lock
    twice, so the two can never wait on each other the wrong way round. On SQLite nothing
    is run: a write transaction begins ``IMMEDIATE`` and holds the database's only write
    lock already. The tenant row lives in the control database; when the tenant's rows
    live in a database of their own (placements) its commit is not the control database's,
    and another writer could take the row between the two commits and read before this
    transaction's rows are there. There the tenant's database is locked too, after the row
    (the same order everywhere), with a transaction-level advisory lock that ends with the
    rows' commit; its key is not the move barrier's (taken shared by every writer), so the
    two never meet. Works alike in a sync ``Session`` and in an ``AsyncSession``'s
    ``run_sync`` (the ``Writes`` path on PostgreSQL), inside the same transaction.
    Taken again in the transaction (or savepoint) that holds it, it runs nothing: a route
    and the service it calls may both take it.

    Args:
        session: the unit of work that will check and write.
        tenant_id: the tenant; by default the session's (its context).

    Raises:
        NoTenantContext: no tenant given and the session serves none (fail closed).
        TenantNotFound: the tenant row does not exist.
    """
    tenant = tenant_id or session_tenant(session)
    if tenant is None:
        raise NoTenantContext("locking a tenant's writes needs a tenant")
    on_postgres = session.connection().dialect.name == "postgresql"
    transaction = session.get_nested_transaction() or session.get_transaction()
    held = session.info.get(_HELD)
    if held is not None and held[0]() is transaction and held[1] == tenant:
        return
    if on_postgres:
        lock_tenant_row(session, tenant)
    databases: _TenantDatabases | None = session.info.get(PLACEMENTS_INFO)
    if databases is not None:
        databases.lock_tenant_database(session, tenant)
    if transaction is not None:
        session.info[_HELD] = (weakref.ref(transaction), tenant)


def lock_tenant_row(session: Session, tenant_id: uuid.UUID) -> None:
    """Lock the tenant's row in the control database until the transaction ends, on
    PostgreSQL (on SQLite a writing transaction holds the database's write lock already):
    for rules over the tenant's own records there, such as "a tenant keeps an owner".

    Raises:
        TenantNotFound: the tenant row does not exist.
    """
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return
    if session.execute(_LOCK_TENANT_ROW, {"tenant_id": tenant_id}).first() is None:
        raise TenantNotFound("tenant not found")
