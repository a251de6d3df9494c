"""The tenant tables a move copies, read from the database itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from tenantry.errors import TenantryError
from tenantry.placement.tables import tenant_tables


def _engine(tmp_path: Path, *ddl: str) -> Engine:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as conn:
        for statement in ddl:
            conn.execute(text(statement))
    return engine


def test_parents_come_first_and_control_tables_are_left_out(tmp_path: Path) -> None:
    engine = _engine(
        tmp_path,
        "CREATE TABLE tenantry_tenants (id TEXT PRIMARY KEY, tenant_id TEXT)",
        "CREATE TABLE tasks (tenant_id TEXT, id INTEGER, project_id INTEGER, parent_id INTEGER,"
        " PRIMARY KEY (tenant_id, id),"
        " FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id),"
        " FOREIGN KEY (tenant_id, parent_id) REFERENCES tasks (tenant_id, id))",
        "CREATE TABLE projects (tenant_id TEXT, id INTEGER, PRIMARY KEY (tenant_id, id))",
        "CREATE TABLE settings (name TEXT PRIMARY KEY)",
    )
    with engine.connect() as conn:
        tables = tenant_tables(conn)
    assert [t.name for t in tables] == ["projects", "tasks"]
    assert tables[1].key == ["id"]


def test_a_cycle_between_tables_is_a_clear_error(tmp_path: Path) -> None:
    engine = _engine(
        tmp_path,
        "CREATE TABLE a (tenant_id TEXT, id INTEGER, b_id INTEGER, PRIMARY KEY (tenant_id, id),"
        " FOREIGN KEY (tenant_id, b_id) REFERENCES b (tenant_id, id))",
        "CREATE TABLE b (tenant_id TEXT, id INTEGER, a_id INTEGER, PRIMARY KEY (tenant_id, id),"
        " FOREIGN KEY (tenant_id, a_id) REFERENCES a (tenant_id, id))",
    )
    with engine.connect() as conn, pytest.raises(TenantryError, match="a, b reference each other"):
        tenant_tables(conn)
