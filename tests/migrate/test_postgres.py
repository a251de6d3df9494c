"""The same conversions on a real PostgreSQL server: keys, tenant-safe foreign keys, RLS."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tenantry.migrate import apply, conversion_engine, finish, restore, state, verify
from tenantry.migrate.samples import generate

from tests.migrate.conftest import example
from tests.migrate.test_apply import QUIET, fingerprint

pytestmark = pytest.mark.postgres


def test_converts_verifies_and_rolls_back(app: str, pg_url: str, tmp_path: Path) -> None:
    generate(create_engine(pg_url), app)
    engine = conversion_engine(pg_url)
    before = fingerprint(engine)
    mapping = example(app)
    result = apply(engine, mapping, backup_path=tmp_path / "backup.pgdump", reporter=QUIET)
    checks = verify(engine, mapping, result.plan, QUIET)
    assert checks.ok, [c for c in checks.checks if not c.ok]
    finish(engine, result.plan, QUIET)
    assert verify(engine, mapping, result.plan, QUIET).ok  # still readable under forced RLS
    with engine.connect() as conn:
        forced = conn.execute(text(
            "SELECT count(*) FROM pg_class WHERE relname = ANY(:t) AND relforcerowsecurity"),
            {"t": result.plan.order}).scalar()
        assert forced == len(result.plan.order)
        assert state.run_status(conn) == "done"
    assert apply(engine, mapping, backup_path=tmp_path / "b2", reporter=QUIET).noop
    restore(engine, tmp_path / "backup.pgdump")
    assert fingerprint(engine) == before
    with engine.connect() as conn:
        assert state.run_status(conn) is None
    engine.dispose()


def test_rls_hides_other_tenants(pg_url: str, tmp_path: Path) -> None:
    generate(create_engine(pg_url), "electricity")
    engine = conversion_engine(pg_url)
    mapping = example("electricity")
    result = apply(engine, mapping, backup_path=tmp_path / "b.pgdump", reporter=QUIET)
    finish(engine, result.plan, QUIET)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE ROLE tenantize_app_probe NOLOGIN")
        conn.exec_driver_sql("GRANT SELECT ON readings TO tenantize_app_probe")
        tid = conn.exec_driver_sql(
            "SELECT tenant_id FROM tenantry_tenantize_owners WHERE user_id = 1").scalar()
        conn.exec_driver_sql("SET LOCAL ROLE tenantize_app_probe")
        assert conn.exec_driver_sql("SELECT count(*) FROM readings").scalar() == 0
        conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tid)})
        seen = conn.exec_driver_sql("SELECT DISTINCT user_id FROM readings").scalars().all()
        assert seen == [1]
        conn.exec_driver_sql("RESET ROLE")
        conn.exec_driver_sql("REVOKE ALL ON readings FROM tenantize_app_probe")
        conn.exec_driver_sql("DROP ROLE tenantize_app_probe")
    engine.dispose()
