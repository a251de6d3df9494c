"""The tenant of each transaction, told to PostgreSQL for the RLS policies.

At the start of every transaction a session begins - the first one and each
one after a commit or rollback - ``app.tenant_id`` is set with
``set_config(…, true)``: local to that transaction, so it vanishes at its end
and nothing is carried to the next user of a pooled connection, nor through a
transaction-pooling proxy. The value is a bind parameter, never formatted into
SQL. With no tenant the setting is ``''``, which the policy turns into no rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, event, text
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from tenantry.rls.policy import TENANT_SETTING
from tenantry.scoping import session_tenant

_SET_TENANT = text(f"SELECT set_config('{TENANT_SETTING}', :tenant_id, true)")


def install_rls_context(factory: sessionmaker[Any]) -> None:
    """Set ``app.tenant_id`` at the start of each transaction of ``factory``'s sessions.

    Only connections to PostgreSQL are touched; on other backends this is a no-op.
    """
    event.listen(factory, "after_begin", _after_begin)


def _after_begin(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    if connection.dialect.name != "postgresql":
        return
    tenant_id = session_tenant(session)
    connection.execute(_SET_TENANT, {"tenant_id": "" if tenant_id is None else str(tenant_id)})
