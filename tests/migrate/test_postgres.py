"""The same conversions on a real PostgreSQL server: keys, tenant-safe foreign keys, RLS."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tenantry.migrate import apply, conversion_engine, finish, restore, state, verify
from tenantry.migrate.samples import generate
from tests.migrate.conftest import example
from tests.migrate.test_apply import QUIET, fingerprint
from tests.support.postgres import APP_ROLE

pytestmark = pytest.mark.postgres


def test_converts_verifies_and_rolls_back(sample_app: str, pg_url: str, tmp_path: Path) -> None:
    app = sample_app
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
        forced = conn.execute(
            text("SELECT count(*) FROM pg_class WHERE relname = ANY(:t) AND relforcerowsecurity"),
            {"t": result.plan.order},
        ).scalar()
        assert forced == len(result.plan.order)
        assert state.run_status(conn) == "done"
    assert apply(engine, mapping, backup_path=tmp_path / "b2", reporter=QUIET).noop
    restore(engine, tmp_path / "backup.pgdump")
    assert fingerprint(engine) == before
    with engine.connect() as conn:
        assert state.run_status(conn) is None
    engine.dispose()


def test_app_role_sees_only_its_tenant(pg_url: str, tmp_path: Path) -> None:
    generate(create_engine(pg_url), "electricity")
    engine = conversion_engine(pg_url)
    result = apply(
        engine, example("electricity"), backup_path=tmp_path / "b.pgdump", reporter=QUIET
    )
    finish(engine, result.plan, QUIET)
    with engine.connect() as conn:
        tid = conn.exec_driver_sql(
            "SELECT tenant_id FROM tenantry_tenantize_owners WHERE user_id = 1"
        ).scalar()
    engine.dispose()
    app = create_engine(make_url(pg_url).set(username=APP_ROLE))
    with app.begin() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM readings").scalar() == 0
        conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tid)})
        seen = conn.exec_driver_sql("SELECT DISTINCT user_id FROM readings").scalars().all()
    assert seen == [1]
    app.dispose()
