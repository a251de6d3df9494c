"""The second wall on a real PostgreSQL: raw SQL as the app role, no ORM in the way."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from tests.support.databases import TestDatabase

pytestmark = pytest.mark.postgres

SET_TENANT = text("SELECT set_config('app.tenant_id', :t, true)")


@pytest.fixture
def app_engine(pg_database: TestDatabase) -> Iterator[Engine]:
    engine = create_engine(pg_database.app_url)
    yield engine
    engine.dispose()


@pytest.fixture
def tenants(app_engine: Engine) -> tuple[uuid.UUID, uuid.UUID]:
    """Two tenants with one note each (written as the app role, each in its own tenant)."""
    a, b = uuid.uuid4(), uuid.uuid4()
    with app_engine.begin() as conn:
        for tid, slug in ((a, "a"), (b, "b")):
            conn.execute(
                text(
                    "INSERT INTO tenantry_tenants (id, slug, name, kind, plan, status, settings,"
                    " created_at, updated_at) VALUES (:id, :slug, :slug, 'personal', 'free',"
                    " 'active', '{}', now(), now())"
                ),
                {"id": tid, "slug": slug},
            )
    for tid, note_id in ((a, 1), (b, 2)):
        with app_engine.begin() as conn:
            conn.execute(SET_TENANT, {"t": str(tid)})
            _insert_note(conn, tid, note_id)
    return a, b


def _insert_note(conn: Connection, tenant: uuid.UUID, note_id: int) -> None:
    conn.execute(
        text("INSERT INTO test_notes (tenant_id, id, body) VALUES (:t, :i, 'hello')"),
        {"t": tenant, "i": note_id},
    )


def _note_tenants(conn: Connection) -> list[uuid.UUID]:
    return list(conn.execute(text("SELECT tenant_id FROM test_notes ORDER BY id")).scalars())


def test_no_tenant_set_means_no_rows(app_engine: Engine, tenants: tuple[uuid.UUID, ...]) -> None:
    with app_engine.connect() as conn:
        assert _note_tenants(conn) == []
        assert conn.execute(text("SELECT count(*) FROM test_note_tags")).scalar() == 0


def test_empty_tenant_setting_means_no_rows(
    app_engine: Engine, tenants: tuple[uuid.UUID, ...]
) -> None:
    with app_engine.begin() as conn:
        conn.execute(SET_TENANT, {"t": ""})
        assert _note_tenants(conn) == []


def test_no_tenant_set_refuses_inserts(app_engine: Engine, tenants: tuple[uuid.UUID, ...]) -> None:
    with pytest.raises(ProgrammingError, match="row-level security"), app_engine.begin() as conn:
        _insert_note(conn, tenants[0], 99)


def test_a_tenant_sees_only_its_rows(app_engine: Engine, tenants: tuple[uuid.UUID, ...]) -> None:
    a, b = tenants
    with app_engine.begin() as conn:
        conn.execute(SET_TENANT, {"t": str(a)})
        assert _note_tenants(conn) == [a]
        # Even naming the other tenant explicitly finds nothing, and changes nothing.
        assert (
            conn.execute(
                text("SELECT count(*) FROM test_notes WHERE tenant_id = :b"), {"b": b}
            ).scalar()
            == 0
        )
        assert (
            conn.execute(
                text("UPDATE test_notes SET body = 'x' WHERE tenant_id = :b"), {"b": b}
            ).rowcount
            == 0
        )
        assert conn.execute(text("DELETE FROM test_notes")).rowcount == 1
    with app_engine.begin() as conn:
        conn.execute(SET_TENANT, {"t": str(b)})
        assert _note_tenants(conn) == [b]


def test_writing_into_another_tenant_is_refused(
    app_engine: Engine, tenants: tuple[uuid.UUID, ...]
) -> None:
    a, b = tenants
    with app_engine.connect() as conn:
        conn.execute(SET_TENANT, {"t": str(a)})
        with pytest.raises(ProgrammingError, match="row-level security"):
            _insert_note(conn, b, 50)
        conn.rollback()
        conn.execute(SET_TENANT, {"t": str(a)})
        with pytest.raises(ProgrammingError, match="row-level security"):
            conn.execute(text("UPDATE test_notes SET tenant_id = :b"), {"b": b})


def test_setting_is_local_to_the_transaction(
    app_engine: Engine, tenants: tuple[uuid.UUID, ...]
) -> None:
    with app_engine.connect() as conn:
        with conn.begin():
            conn.execute(SET_TENANT, {"t": str(tenants[0])})
            assert len(_note_tenants(conn)) == 1
        with conn.begin():
            assert _note_tenants(conn) == []


def test_app_role_cannot_truncate(app_engine: Engine, tenants: tuple[uuid.UUID, ...]) -> None:
    for table in ("test_notes", "tenantry_tenants"):
        with pytest.raises(ProgrammingError, match="permission denied"), app_engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {table} CASCADE"))


@pytest.mark.parametrize(
    "ddl",
    [
        "ALTER TABLE test_notes DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE test_notes NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY tenant_isolation ON test_notes",
        "CREATE POLICY open ON test_notes USING (true)",
        "SET row_security = off; SELECT * FROM test_notes",
    ],
)
def test_app_role_cannot_switch_rls_off(app_engine: Engine, ddl: str) -> None:
    with pytest.raises(DBAPIError), app_engine.begin() as conn:
        conn.exec_driver_sql(ddl)


def test_app_role_is_not_owner_superuser_or_bypassrls(app_engine: Engine) -> None:
    with app_engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT r.rolsuper, r.rolbypassrls,"
                " (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                "  WHERE n.nspname = 'public' AND pg_has_role(r.oid, c.relowner, 'MEMBER')),"
                " (SELECT d.datdba = r.oid FROM pg_database d WHERE d.datname = current_database())"
                " FROM pg_roles r WHERE r.rolname = current_user"
            )
        ).one()
    assert tuple(row) == (False, False, 0, False)


def test_owner_is_bound_by_forced_rls(
    pg_database: TestDatabase, tenants: tuple[uuid.UUID, ...]
) -> None:
    engine = create_engine(pg_database.owner_url)
    try:
        with engine.connect() as conn:
            assert _note_tenants(conn) == []
    finally:
        engine.dispose()


def test_deleting_a_tenant_cascades_through_rls(
    app_engine: Engine, tenants: tuple[uuid.UUID, ...]
) -> None:
    a, b = tenants
    with app_engine.begin() as conn:
        conn.execute(text("DELETE FROM tenantry_tenants WHERE id = :a"), {"a": a})
    with app_engine.begin() as conn:
        conn.execute(SET_TENANT, {"t": str(a)})
        assert _note_tenants(conn) == []
        conn.execute(SET_TENANT, {"t": str(b)})
        assert _note_tenants(conn) == [b]


def test_tenant_value_is_never_sql(app_engine: Engine, tenants: tuple[uuid.UUID, ...]) -> None:
    # A hostile value is just a string that is not a uuid: the cast fails, nothing runs.
    with app_engine.connect() as conn:
        conn.execute(SET_TENANT, {"t": "' OR true --"})
        with pytest.raises(DBAPIError, match="uuid"):
            _note_tenants(conn)
