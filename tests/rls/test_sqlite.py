"""On SQLite the RLS context is not installed: no ``set_config`` is ever sent."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import event, text

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.ids import TenantId
from tenantry.roles import Role
from tests.support.databases import sqlite_database


def test_no_rls_statement_on_sqlite(tmp_path: Path) -> None:
    database = Database(sqlite_database(tmp_path).app_url)
    statements: list[str] = []

    @event.listens_for(database.engine, "before_cursor_execute")
    def _record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    ctx = TenantContext(tenant_id=TenantId(uuid.uuid4()), user_id=None, role=Role.OWNER)
    with tenant_scope(ctx), database.session() as s:
        s.execute(text("SELECT 1"))
    database.dispose()
    assert statements
    assert not any("set_config" in q for q in statements)
