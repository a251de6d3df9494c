"""The tenant of each transaction, told to PostgreSQL for the RLS policies.

At the start of every transaction a session begins - the first one and each
one after a commit or rollback - ``app.tenant_id`` is set with
``set_config(…, true)``: local to that transaction, so it vanishes at its end
and nothing is carried to the next user of a pooled connection, nor through a
transaction-pooling proxy. The value is a bind parameter, never formatted into
SQL. With no tenant the setting is ``''``, which the policy turns into no rows.

A transaction may begin before the tenant is known (membership resolution reads
the control plane first). Before each ORM statement and each flush the setting
is therefore brought in line with the session's tenant when it differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Select, text
from sqlalchemy.orm import (
    ORMExecuteState,
    Session,
    SessionTransaction,
    UOWTransaction,
)

from tenantry.hooks import SessionFactory, listen
from tenantry.raw import first_row
from tenantry.rls.policy import TENANT_SETTING
from tenantry.scoping import session_tenant

_SET_TENANT = text(f"SELECT set_config('{TENANT_SETTING}', :tenant_id, true)")
_APPLIED = "tenantry.rls_tenant"
_SETS_ITS_OWN = "tenantry.rls_sets_its_own"


def install_rls_context(factory: SessionFactory) -> None:
    """Set ``app.tenant_id`` at the start of each transaction of ``factory``'s sessions.

    Only connections to PostgreSQL are touched; on other backends this is a no-op.
    """
    listen(factory, "after_begin", _after_begin)
    listen(factory, "do_orm_execute", _before_statement)
    listen(factory, "before_flush", _before_flush)
    listen(factory, "after_transaction_end", _after_end)


def _apply(session: Session, connection: Connection) -> None:
    tenant_id = session_tenant(session)
    value = "" if tenant_id is None else str(tenant_id)
    connection.execute(_SET_TENANT, {"tenant_id": value})
    session.info[_APPLIED] = value


def _sync(session: Session) -> None:
    """Re-set the tenant of the open transaction when the session's tenant changed."""
    if session.get_bind().dialect.name != "postgresql" or _APPLIED not in session.info:
        return  # not PostgreSQL, or no transaction yet: after_begin will set it
    tenant_id = session_tenant(session)
    if session.info[_APPLIED] != ("" if tenant_id is None else str(tenant_id)):
        _apply(session, session.connection())


def begin_setting_tenant(
    session: Session, statement: Select[*tuple[Any, ...]], params: dict[str, Any]
) -> Sequence[Any] | None:
    """Begin ``session``'s transaction with ``statement``, whose last column is the
    ``set_config`` of ``app.tenant_id``: one round trip where the usual setting takes its own.

    The value it set is recorded like the usual setting's, so a statement of the
    session for a different tenant still re-sets it first. When ``statement`` finds no
    row, nothing was set and the usual setting runs. PostgreSQL only; the session must
    not have begun.
    """
    session.info[_SETS_ITS_OWN] = True
    try:
        connection = session.connection()
    finally:
        del session.info[_SETS_ITS_OWN]
    row = first_row(connection, statement, params)
    if row is None:
        _apply(session, connection)
    else:
        session.info[_APPLIED] = row[-1]
    return row


def _after_begin(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    if connection.dialect.name != "postgresql" or session.info.get(_SETS_ITS_OWN):
        return
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        # No transaction to hold a local setting (the membership check of a request, which
        # reads control tables only): tenant tables see no tenant and show no rows.
        return
    _apply(session, connection)


def _before_statement(state: ORMExecuteState) -> None:
    _sync(state.session)


def _before_flush(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    _sync(session)


def _after_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_APPLIED, None)
