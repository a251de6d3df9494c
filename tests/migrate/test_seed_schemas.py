"""tenantize on schemas written to the requirement documents, on SQLite and PostgreSQL:
dangling references with a declared foreign key, and ON DELETE/UPDATE actions."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, event

from tenantry.migrate import apply, build_plan, conversion_engine, finish, parse_mapping, verify
from tenantry.migrate.mapping import Mapping
from tenantry.migrate.postgres_convert import relax_rls
from tenantry.migrate.schema import table_info
from tests.migrate import seeds
from tests.migrate.test_apply import QUIET


def mapping_of(text: str) -> Mapping:
    return parse_mapping(tomllib.loads(text))


def convert(engine: Engine, mapping: Mapping, backup: Path) -> None:
    result = apply(engine, mapping, backup_path=backup, reporter=QUIET)
    checks = verify(engine, mapping, result.plan, QUIET)
    assert checks.ok, [c for c in checks.checks if not c.ok]
    finish(engine, result.plan, QUIET)


@contextmanager
def owner_view(engine: Engine) -> Iterator[Connection]:
    """A transaction that sees every tenant's rows (PostgreSQL: RLS relaxed inside it)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = (
                conn.exec_driver_sql("SELECT relname FROM pg_class WHERE relforcerowsecurity")
                .scalars()
                .all()
            )
            relax_rls(conn, list(names))
        yield conn


def make_electricity(url: str, *, dangling: bool) -> None:
    postgres = url.startswith("postgresql")
    seeds.build(
        url,
        seeds.electricity_ddl(
            "postgresql" if postgres else "sqlite", user_fk="" if postgres else "ON DELETE CASCADE"
        ),
        seeds.electricity_rows(dangling=dangling),
    )
    if postgres:  # the FK arrived later, NOT VALID, over rows that already broke it
        for table in ("readings", "vouchers"):
            seeds.add_not_valid_fk(url, table, "user_id", "users", "ON DELETE CASCADE")


def test_dangling_user_reference_is_a_problem_with_row_ids(legacy_url: str, tmp_path: Path) -> None:
    make_electricity(legacy_url, dangling=True)
    engine = conversion_engine(legacy_url)
    with engine.connect() as conn:
        plan = build_plan(conn, mapping_of(seeds.electricity_mapping()))
    problems = {(p.kind, p.table): p for p in plan.problems}
    missing = problems[("missing_owner", "readings")]
    assert missing.blocking and missing.count == 1 and missing.samples == ["900"]
    assert "user that does not exist" in missing.detail

    toml = seeds.electricity_mapping(missing_owner="assign:unclaimed")
    mapping = mapping_of(toml + 'kind = "family"\n')  # the extra tenant's: business unless said
    convert(engine, mapping, tmp_path / "backup")
    with owner_view(engine) as conn:
        slug, kind = conn.exec_driver_sql(
            "SELECT t.slug, t.kind FROM readings r JOIN tenantry_tenants t ON t.id = r.tenant_id "
            "WHERE r.id = 900"
        ).one()
        user_id = conn.exec_driver_sql("SELECT user_id FROM readings WHERE id = 900").scalar()
    assert (slug, user_id) == ("unclaimed", 99)  # moved by the policy, the value untouched
    assert kind == "family"
    engine.dispose()


def test_dangling_reference_orphan_policy_fail_stops_apply(legacy_url: str, tmp_path: Path) -> None:
    make_electricity(legacy_url, dangling=True)
    engine = conversion_engine(legacy_url)
    from tenantry.migrate import ProblemsFound

    with pytest.raises(ProblemsFound):
        apply(
            engine,
            mapping_of(seeds.electricity_mapping()),
            backup_path=tmp_path / "b",
            reporter=QUIET,
        )
    engine.dispose()


def _foreign_keys_on(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _on(dbapi: object, _record: object) -> None:
            dbapi.execute("PRAGMA foreign_keys = ON")  # type: ignore[attr-defined]


def test_on_delete_actions_survive_conversion(legacy_url: str, tmp_path: Path) -> None:
    dialect = "postgresql" if legacy_url.startswith("postgresql") else "sqlite"
    seeds.build(
        legacy_url,
        seeds.workflows_ddl(dialect),
        {
            "users": [
                {"id": 1, "email": "a@example.com", "password_hash": seeds.argon2_hash("x")},
                {"id": 2, "email": "b@example.com", "password_hash": seeds.argon2_hash("x")},
            ],
            "credentials": [
                {"id": 1, "user_id": 1, "service_name": "slack", "encrypted_key": "k"},
            ],
            "workflows": [
                {"id": 1, "user_id": 1, "name": "nightly"},
                {"id": 2, "user_id": 2, "name": "hourly"},
            ],
            "logs": [
                {"id": 1, "workflow_id": 1, "credential_id": 1, "status": "ok"},
                {"id": 2, "workflow_id": 1, "credential_id": None, "status": "ok"},
                {"id": 3, "workflow_id": 2, "credential_id": None, "status": "failed"},
            ],
        },
    )
    engine = conversion_engine(legacy_url)
    with engine.connect() as conn:
        before = {
            fk.columns: (fk.ondelete, fk.onupdate) for fk in table_info(conn, "logs").foreign_keys
        }
    assert before[("workflow_id",)] == ("CASCADE", "CASCADE")  # read from PRAGMA foreign_key_list
    assert before[("credential_id",)] == ("SET NULL", None)
    mapping = mapping_of(seeds.WORKFLOWS_MAPPING)
    result = apply(engine, mapping, backup_path=tmp_path / "backup", reporter=QUIET)
    checks = verify(engine, mapping, result.plan, QUIET)
    assert checks.ok, [c for c in checks.checks if not c.ok]
    assert any(c.name == "actions:logs" for c in checks.checks)
    finish(engine, result.plan, QUIET)
    engine.dispose()

    # The converted database behaves as the legacy one did: deletes cascade and set null.
    app = create_engine(legacy_url)
    _foreign_keys_on(app)
    with owner_view(app) as conn:
        conn.exec_driver_sql("DELETE FROM credentials WHERE id = 1")
        assert conn.exec_driver_sql("SELECT credential_id FROM logs WHERE id = 1").scalar() is None
        conn.exec_driver_sql("DELETE FROM workflows WHERE id = 1")
        left = conn.exec_driver_sql("SELECT id FROM logs ORDER BY id").scalars().all()
        assert left == [3]
        conn.exec_driver_sql("DELETE FROM users WHERE id = 2")  # the legacy table: untouched
    app.dispose()


def test_verification_reports_a_lost_action(legacy_url: str, tmp_path: Path) -> None:
    dialect = "postgresql" if legacy_url.startswith("postgresql") else "sqlite"
    seeds.build(legacy_url, seeds.workflows_ddl(dialect), {})
    engine = conversion_engine(legacy_url)
    mapping = mapping_of(seeds.WORKFLOWS_MAPPING)
    result = apply(engine, mapping, backup_path=tmp_path / "backup", reporter=QUIET)
    ref = next(r for r in result.plan.table("logs").refs if r.column == "workflow_id")
    ref.ondelete = "RESTRICT"  # as if the legacy key had said RESTRICT: the converted one differs
    checks = {c.name: c for c in verify(engine, mapping, result.plan, QUIET).checks}
    assert not checks["actions:logs"].ok
    assert "ON DELETE RESTRICT" in checks["actions:logs"].detail
    assert "ON DELETE CASCADE" in checks["actions:logs"].detail
    engine.dispose()


def test_report_lists_the_addresses_given_to_colliding_users(
    legacy_url: str, tmp_path: Path
) -> None:
    rows = seeds.electricity_rows()
    rows["users"].append(
        {"id": 5, "email": " THANDI@example.com ", "password": seeds.argon2_hash("x"), "name": "T"}
    )
    rows["users"].append(
        {"id": 6, "email": "Ravi@Example.com", "password": seeds.argon2_hash("x"), "name": "R"}
    )
    dialect = "postgresql" if legacy_url.startswith("postgresql") else "sqlite"
    seeds.build(legacy_url, seeds.electricity_ddl(dialect), rows)
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        seeds.electricity_mapping(email_collision="suffix")
        + '[users.email_overrides]\n"6" = "ravi.work@example.com"\n'
    )
    report = tmp_path / "report.json"
    code, out = run_cli(
        "--db", legacy_url, "--map", str(mapping), "--apply", "--quiet",
        "--backup", str(tmp_path / "b"), "--report", str(report),
    )  # fmt: skip
    assert code == 0, out
    changes = json.loads(report.read_text())["new_addresses"]
    assert changes == [
        {
            "user_id": 5,
            "legacy_email": " THANDI@example.com ",
            "email": "thandi+legacy-5@example.com",
            "reason": "suffix",
        },
        {
            "user_id": 6,
            "legacy_email": "Ravi@Example.com",
            "email": "ravi.work@example.com",
            "reason": "override",
        },
    ]
    engine = conversion_engine(legacy_url)
    with engine.connect() as conn:
        emails = dict(conn.exec_driver_sql("SELECT id, email FROM tenantry_users").all())
    engine.dispose()
    assert (emails[1], emails[5], emails[6]) == (
        "thandi@example.com",
        "thandi+legacy-5@example.com",
        "ravi.work@example.com",
    )


def run_cli(*args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from tenantry.cli.main import app

    result = CliRunner().invoke(app, ["tenantize", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output
