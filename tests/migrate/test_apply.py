from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tenantry.migrate import (
    ProblemsFound,
    apply,
    build_plan,
    conversion_engine,
    finish,
    load_mapping,
    restore,
    state,
    verify,
)
from tenantry.migrate.checksum import table_checksum
from tenantry.migrate.progress import Reporter
from tenantry.migrate.schema import app_tables, table_info
from tests.migrate.conftest import example, strict_mapping

QUIET = Reporter(quiet=True)


def fingerprint(engine: Engine) -> dict[str, tuple[int, str]]:
    with engine.connect() as conn:
        return {n: table_checksum(conn, n, table_info(conn, n).columns) for n in app_tables(conn)}


def convert(engine: Engine, app: str, backup: Path) -> None:
    mapping = example(app)
    result = apply(engine, mapping, backup_path=backup, reporter=QUIET)
    checks = verify(engine, mapping, result.plan, QUIET)
    assert checks.ok, [c for c in checks.checks if not c.ok]
    finish(engine, result.plan, QUIET)


def test_converts_verifies_and_rolls_back(
    sample_app: str, sqlite_sample: Callable[..., str], tmp_path: Path
) -> None:
    app = sample_app
    engine = conversion_engine(sqlite_sample(app))
    before = fingerprint(engine)
    convert(engine, app, tmp_path / "backup.sqlite")
    with engine.connect() as conn:
        assert state.run_status(conn) == "done"
        for name in example(app).tables:
            info = table_info(conn, name)
            if not example(app).tables[name].is_global:
                assert info.primary_key[0] == "tenant_id"
    # A second run is a no-op.
    again = apply(engine, example(app), backup_path=tmp_path / "b2", reporter=QUIET)
    assert again.noop and not (tmp_path / "b2").exists()
    restore(engine, tmp_path / "backup.sqlite")
    assert fingerprint(engine) == before
    with engine.connect() as conn:
        assert state.run_status(conn) is None
    engine.dispose()


def test_apply_refuses_unresolved_problems(
    sqlite_sample: Callable[..., str], tmp_path: Path
) -> None:
    engine = conversion_engine(sqlite_sample("electricity"))
    before = fingerprint(engine)
    with pytest.raises(ProblemsFound):
        apply(
            engine,
            load_mapping(strict_mapping("electricity", tmp_path)),
            backup_path=tmp_path / "b",
            reporter=QUIET,
        )
    assert fingerprint(engine) == before
    engine.dispose()


def test_policy_targets_receive_the_rows(sqlite_sample: Callable[..., str], tmp_path: Path) -> None:
    engine = conversion_engine(sqlite_sample("electricity"))
    convert(engine, "electricity", tmp_path / "b")
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT count(*) FROM readings r JOIN tenantry_tenants t ON t.id = r.tenant_id "
            "WHERE t.slug = 'unclaimed'"
        ).scalar()
        emails = dict(conn.exec_driver_sql("SELECT id, email FROM tenantry_users").all())
    assert rows == 2
    assert emails[3] == "chen.2+second-account@example.com"
    assert emails[2] == "chen.2@example.com"
    engine.dispose()


def test_mixed_parents_kept_by_owner_policy_are_reported(
    sqlite_sample: Callable[..., str], tmp_path: Path
) -> None:
    engine = conversion_engine(sqlite_sample("cards"))
    with engine.connect() as conn:
        plan = build_plan(conn, example("cards"))
    ref = next(r for r in plan.table("cards").refs if r.column == "player_id")
    assert (ref.mixed, ref.fk) == (1, "keep")
    assert plan.table("players").needs_unique_key
    convert(engine, "cards", tmp_path / "b")
    engine.dispose()


def test_accounts_written_in_batches_are_all_there(
    sqlite_sample: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Users, tenants and memberships go in batches; a batch smaller than the users loses none."""
    from sqlalchemy import func, select

    from tenantry.migrate import users
    from tenantry.models import Membership, Tenant, User

    monkeypatch.setattr(users, "ACCOUNT_BATCH", 5)
    engine = conversion_engine(sqlite_sample("electricity"))
    with engine.connect() as conn:
        legacy = conn.exec_driver_sql("SELECT count(*) FROM users").scalar_one()
    assert legacy > 5
    convert(engine, "electricity", tmp_path / "backup.sqlite")
    with engine.connect() as conn:
        counts = [conn.scalar(select(func.count()).select_from(t)) for t in (User, Tenant)]
        owners = conn.scalar(
            select(func.count()).select_from(Membership).where(Membership.role == "owner")
        )
    assert counts[0] == legacy
    assert counts[1] is not None and counts[1] >= legacy  # one personal tenant each, + extras
    assert owners is not None and owners >= legacy


def test_a_stuck_run_stops_apply_before_any_further_change(legacy_url: str, tmp_path: Path) -> None:
    """The dry run said 'stuck: rows were written during the conversion', but --apply
    converted every remaining table and only then failed verification."""
    import os
    import subprocess
    import sys

    from sqlalchemy import create_engine

    from tests.migrate.test_rollback import mapping_file
    from tests.migrate.test_seed_schemas import make_electricity
    from tests.migrate.test_sqlite_limits import tenantize

    make_electricity(legacy_url, dangling=False)
    toml = mapping_file(tmp_path)
    args = ["--db", legacy_url, "--map", toml, "--apply", "--quiet"]
    args += ["--backup", str(tmp_path / "b.bak")]
    env = {**os.environ, "TENANTRY_TENANTIZE_KILL_AT": "3"}  # the snapshot committed
    killed = subprocess.run(
        [sys.executable, "-m", "tenantry.cli.main", "tenantize", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert killed.returncode < 0, killed.stdout + killed.stderr
    engine = create_engine(legacy_url)
    with engine.begin() as conn:  # the app wrote a row meanwhile
        conn.exec_driver_sql(
            "INSERT INTO readings (id, user_id, date, reading) VALUES (500, 1, '2026-04-01', 9)"
        )
    written = "rows were written during the conversion (readings: 20 rows when the"
    code, out = tenantize("--db", legacy_url, "--map", toml)
    assert code == 1 and f"converting, stuck: {written}" in out, out
    code, out = tenantize(*args)
    assert code == 1 and written in out and "verification" not in out, out
    with engine.connect() as conn:
        assert not state.done(conn, "core_schema")  # stopped before any further step
        assert "tenantry_users" not in app_tables(conn) + list(
            conn.exec_driver_sql(
                "SELECT name FROM sqlite_master"
                if conn.dialect.name == "sqlite"
                else "SELECT tablename FROM pg_tables"
            ).scalars()
        )
        assert "tenant_id" not in table_info(conn, "readings").columns
        assert "tenant_id" not in table_info(conn, "vouchers").columns
    engine.dispose()
    code, out = tenantize("--db", legacy_url, "--map", toml)
    assert code == 1 and f"converting, stuck: {written}" in out, out


def test_a_reference_with_dangling_rows_stays_tenant_safe(legacy_url: str, tmp_path: Path) -> None:
    """Logs of deleted workflows are assigned to a tenant; the reference was then kept as a
    plain key for every row, and any tenant's log could point at another tenant's workflow
    (an outside tester wrote one and saw a delete cascade into it). It is the composite key
    now, unchecked only on the dangling rows (PostgreSQL: NOT VALID)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import IntegrityError

    from tenantry.db import make_engine
    from tenantry.migrate.samples import generate

    legacy = create_engine(legacy_url)
    generate(legacy, "workflows")
    legacy.dispose()
    engine = conversion_engine(legacy_url)
    with engine.connect() as conn:
        plan = build_plan(conn, example("workflows"))
    ref = next(r for r in plan.table("logs").refs if r.column == "workflow_id")
    assert ref.dangling > 0 and ref.fk == "composite"
    convert(engine, "workflows", tmp_path / "b")  # verified, the dangling rows included
    engine.dispose()
    checked = make_engine(legacy_url)  # foreign keys enforced, as the app's engine has them
    postgres = checked.dialect.name == "postgresql"
    as_tenant = text("SELECT set_config('app.tenant_id', :t, true)")  # RLS: whose rows
    with checked.begin() as conn:
        tenants = [str(t) for t in conn.execute(text("SELECT id FROM tenantry_tenants")).scalars()]
        found = None
        for tenant in tenants:
            if postgres:
                conn.execute(as_tenant, {"t": tenant})
            found = conn.execute(
                text(
                    "SELECT l.id, l.workflow_id, l.tenant_id FROM logs l JOIN workflows w "
                    "ON w.tenant_id = l.tenant_id AND w.id = l.workflow_id "
                    "WHERE CAST(l.tenant_id AS TEXT) = :t ORDER BY l.id LIMIT 1"
                ),
                {"t": tenant if postgres else tenant.replace("-", "")},
            ).first()
            if found is not None:
                break
        assert found is not None
        log_id, workflow, owner = found
        other = next(t for t in tenants if t.replace("-", "") != str(owner).replace("-", ""))
        values = dict(
            conn.execute(text("SELECT * FROM logs WHERE id = :id"), {"id": log_id}).one()._mapping
        )
    values |= {"tenant_id": other, "id": 10**9}  # another tenant's log on this workflow
    with pytest.raises(IntegrityError), checked.begin() as conn:
        if postgres:  # the rows RLS lets the other tenant write
            conn.execute(as_tenant, {"t": other})
        conn.execute(
            text(
                f"INSERT INTO logs ({', '.join(values)}) "
                f"VALUES ({', '.join(':' + c for c in values)})"
            ),
            values,
        )
    checked.dispose()
    assert values["workflow_id"] == workflow
