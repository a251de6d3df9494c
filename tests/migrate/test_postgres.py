"""The same conversions on a real PostgreSQL server: keys, tenant-safe foreign keys, RLS."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tenantry.migrate import apply, conversion_engine, finish, restore, state, verify
from tenantry.migrate.postgres_convert import relax_rls
from tenantry.migrate.samples import example_mapping, generate
from tests.migrate.conftest import example
from tests.migrate.test_apply import QUIET, fingerprint
from tests.support.postgres import APP_ROLE, OWNER_ROLE, PostgresServer

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


_TASKPAD = """
CREATE TABLE users (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL,
                    password_hash text, name text);
CREATE TABLE projects (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                       owner_id integer NOT NULL REFERENCES users (id), name text NOT NULL);
CREATE TABLE tasks (id serial PRIMARY KEY, project_id integer NOT NULL REFERENCES projects (id),
                    title text NOT NULL, details jsonb NOT NULL DEFAULT '{}',
                    updated_at timestamptz NOT NULL DEFAULT '2020-01-01');
CREATE INDEX tasks_details ON tasks USING gin (details jsonb_path_ops);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
CREATE TRIGGER tasks_touch BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION touch();
INSERT INTO users (email, name) VALUES ('ann@example.com', 'Ann'), ('bo@example.com', 'Bo');
INSERT INTO projects (owner_id, name) VALUES (1, 'house'), (2, 'garden');
INSERT INTO tasks (project_id, title, details)
  SELECT 1 + i %% 2, 'task ' || i, jsonb_build_object('big', repeat('x', 9000))
  FROM generate_series(1, 20) AS i;
"""
_TASKPAD_MAP = {
    "version": 1,
    "users": {"table": "users", "email": "email", "display_name": "name"},
    "tables": {"projects": {"owner": "owner_id"}, "tasks": {"owner": "project_id -> projects"}},
}


def test_a_schema_of_ones_own_converts_and_takes_new_rows(pg_url: str, tmp_path: Path) -> None:
    """From a stranger's PostgreSQL schema: a BEFORE UPDATE trigger rewrote every task during
    the backfill (verification then failed), a GIN index got a B-tree twin that failed on a
    large document, tasks.project_id stayed integer beside a bigint key and GENERATED ALWAYS
    refused the ids new rows get; a view on a widened key failed the apply half-way."""
    from tenantry.ids import new_row_id
    from tenantry.migrate import MappingError, build_plan, parse_mapping

    engine = conversion_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(_TASKPAD)
        conn.exec_driver_sql("CREATE VIEW task_titles AS SELECT id, title FROM tasks")
    mapping = parse_mapping(_TASKPAD_MAP)
    with engine.connect() as conn, pytest.raises(MappingError, match=r"task_titles uses tasks\.id"):
        build_plan(conn, mapping)  # the dry run says so; nothing has changed
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP VIEW task_titles")
    result = apply(engine, mapping, backup_path=tmp_path / "b.pgdump", reporter=QUIET)
    checks = verify(engine, mapping, result.plan, QUIET)
    assert checks.ok, [c for c in checks.checks if not c.ok]
    finish(engine, result.plan, QUIET)
    with engine.connect() as conn:
        touched = conn.exec_driver_sql("SELECT count(*) FROM tasks WHERE updated_at > '2021-01-01'")
        assert touched.scalar() == 0
        enabled = conn.exec_driver_sql(
            "SELECT tgenabled FROM pg_trigger WHERE tgname = 'tasks_touch'"
        )
        assert enabled.scalar() == "O"  # on again
        kinds = dict(
            conn.exec_driver_sql(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'tasks' AND column_name IN ('id', 'project_id')"
            ).all()
        )
        assert kinds == {"id": "bigint", "project_id": "bigint"}
        twins = (
            conn.exec_driver_sql(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'tasks'"
                " AND indexdef LIKE '%%details%%'"
            )
            .scalars()
            .all()
        )
        assert twins == ["tasks_details"]
        tenant = conn.exec_driver_sql(
            "SELECT tenant_id FROM tenantry_tenantize_owners WHERE user_id = 1"
        ).scalar()
    with engine.begin() as conn:  # a new row with tenantry's id, as the app makes them
        conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant)})
        project = conn.execute(
            text(
                "INSERT INTO projects (tenant_id, id, owner_id, name) VALUES (:t, :i, 1, 'new')"
                " RETURNING id"
            ),
            {"t": tenant, "i": new_row_id()},
        ).scalar()
        conn.execute(
            text("INSERT INTO tasks (tenant_id, id, project_id, title) VALUES (:t, :i, :p, 'n')"),
            {"t": tenant, "i": new_row_id(), "p": project},
        )
    engine.dispose()


def test_rollback_counts_the_rows_written_since_under_forced_rls(
    pg_url: str, tmp_path: Path
) -> None:
    """The owner sees no rows of a finished conversion (RLS is forced): rollback said every
    owned table had gone from N rows to 0, and missed the one row really written since."""
    from tests.migrate.test_sqlite_limits import tenantize

    generate(create_engine(pg_url), "electricity")
    backup = str(tmp_path / "b.pgdump")
    toml = str(example_mapping("electricity"))
    code, out = tenantize("--db", pg_url, "--map", toml, "--apply", "--quiet", "--backup", backup)
    assert code == 0, out
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        before = conn.exec_driver_sql("SELECT count(*) FROM tenantry_tenantize_owners").scalar()
        tid = conn.exec_driver_sql(
            "SELECT tenant_id FROM tenantry_tenantize_owners WHERE user_id = 1"
        ).scalar()
        conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tid)})
        total = conn.exec_driver_sql("SELECT count(*) FROM readings").scalar()
        conn.exec_driver_sql(
            "INSERT INTO readings (tenant_id, id, user_id, read_at, meter_wh, note,"
            " is_replacement, created_at) SELECT tenant_id, 9000000, user_id, read_at,"
            " meter_wh, note, is_replacement, created_at FROM readings LIMIT 1"
        )
    engine.dispose()
    assert before and total
    code, out = tenantize("--db", pg_url, "--rollback", "--backup", backup, "--yes")
    assert code == 0, out
    assert "row counts changed: readings:" in out, out
    assert "0 now" not in out and "vouchers" not in out, out


def _as_superuser(postgres: PostgresServer, pg_url: str, statement: str) -> None:
    admin = postgres.admin_url.set(
        drivername="postgresql+psycopg", database=make_url(pg_url).database
    )
    engine = create_engine(admin)
    with engine.begin() as conn:
        conn.exec_driver_sql(statement)
    engine.dispose()


def test_rollback_leaves_an_extension_a_superuser_created_alone(
    postgres: PostgresServer, pg_url: str, tmp_path: Path
) -> None:
    """pg_restore --clean replayed DROP EXTENSION pgcrypto, which the owner role may not
    run; the tables were already dropped, so the database was left empty."""
    from tests.migrate.test_sqlite_limits import tenantize

    _as_superuser(postgres, pg_url, "CREATE EXTENSION pgcrypto")
    generate(create_engine(pg_url), "electricity")
    engine = conversion_engine(pg_url)
    before = fingerprint(engine)
    engine.dispose()
    backup = str(tmp_path / "b.pgdump")
    toml = str(example_mapping("electricity"))
    code, out = tenantize("--db", pg_url, "--map", toml, "--apply", "--quiet", "--backup", backup)
    assert code == 0, out
    code, out = tenantize("--db", pg_url, "--rollback")
    assert code == 0 and "restored" in out, out
    engine = conversion_engine(pg_url)
    assert fingerprint(engine) == before
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT digest('x', 'sha1')").scalar()  # pgcrypto stays
    engine.dispose()


def test_a_rollback_that_cannot_restore_changes_nothing_and_can_run_again(
    postgres: PostgresServer, pg_url: str, tmp_path: Path
) -> None:
    """A restore stopped by an object the owner role does not own left no tables at all,
    and no record of the conversion to roll back from."""
    from tests.migrate.test_sqlite_limits import tenantize

    _as_superuser(postgres, pg_url, "CREATE SCHEMA reports")  # --clean drops it: not ours
    generate(create_engine(pg_url), "electricity")
    engine = conversion_engine(pg_url)
    before = fingerprint(engine)
    backup = str(tmp_path / "b.pgdump")
    toml = str(example_mapping("electricity"))
    code, out = tenantize("--db", pg_url, "--map", toml, "--apply", "--quiet", "--backup", backup)
    assert code == 0, out
    converted = fingerprint(engine)
    engine.dispose()
    code, out = tenantize("--db", pg_url, "--rollback")
    assert code == 1 and "must be owner of schema reports" in out, out
    assert "nothing was changed" in out, out
    engine = conversion_engine(pg_url)
    assert fingerprint(engine) == converted
    with engine.connect() as conn:
        assert state.run_status(conn) == "done"
    engine.dispose()
    _as_superuser(postgres, pg_url, f'ALTER SCHEMA reports OWNER TO "{OWNER_ROLE}"')
    code, out = tenantize("--db", pg_url, "--rollback")
    assert code == 0, out
    engine = conversion_engine(pg_url)
    assert fingerprint(engine) == before
    engine.dispose()


def test_infinity_dates_in_a_legacy_table_convert_and_verify(pg_url: str, tmp_path: Path) -> None:
    """From a stranger's finance app: ``next_on = 'infinity'`` ("no end") passed the dry run,
    then ``--apply`` stopped with a traceback (psycopg refused to load the value while the
    tables were checksummed), and so did ``--verify``."""
    from tests.migrate.test_sqlite_limits import tenantize

    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE users (id SERIAL PRIMARY KEY, email TEXT NOT NULL, pw TEXT NOT NULL);"
            "CREATE TABLE rules (id SERIAL PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES "
            "users(id), next_on DATE, due_at TIMESTAMP, seen_at TIMESTAMPTZ);"
            "INSERT INTO users (email, pw) VALUES ('a@example.com', 'x'), ('b@example.com', 'y');"
            "INSERT INTO rules (user_id, next_on, due_at, seen_at) VALUES "
            "(1, 'infinity', 'infinity', 'infinity'), (2, '-infinity', '-infinity', '-infinity'),"
            " (2, '2026-05-01', '2026-05-01 10:00', '2026-05-01 10:00+00')"
        )
    engine.dispose()
    toml = tmp_path / "rules.toml"
    toml.write_text(
        'version = 1\n[users]\ntable = "users"\nemail = "email"\npassword_hash = "pw"\n'
        '[policies]\npassword_format = "reset"\n[tables.rules]\nowner = "user_id"\n'
    )
    for step in ((), ("--apply", "--backup", str(tmp_path / "b.pgdump")), ("--verify",)):
        code, out = tenantize("--db", pg_url, "--map", str(toml), "--quiet", *step)
        assert code == 0 and "Traceback" not in out, out
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        relax_rls(conn, ["rules"])
        kept = conn.exec_driver_sql(
            "SELECT next_on::text, due_at::text, seen_at::text FROM rules ORDER BY id"
        ).all()
    engine.dispose()
    assert [tuple(r) for r in kept[:2]] == [("infinity",) * 3, ("-infinity",) * 3]


def test_an_empty_users_table_keyed_by_uuid_is_refused_by_the_dry_run(pg_url: str) -> None:
    """From a stranger's CRM (a structure-only copy): the check read the ids' values, and
    with no rows the dry run passed; ``--apply`` then stopped half-way (``integer = uuid``)
    and left the database marked converting."""
    from tenantry.migrate import MappingError, build_plan, parse_mapping

    engine = conversion_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL UNIQUE);"
            "CREATE TABLE customers (id uuid PRIMARY KEY, owner_id uuid NOT NULL "
            "REFERENCES users(id), full_name text NOT NULL)"
        )
    mapping = parse_mapping(
        {
            "version": 1,
            "users": {"table": "users", "email": "email"},
            "tables": {"customers": {"owner": "owner_id"}},
        }
    )
    with engine.connect() as conn, pytest.raises(MappingError, match=r"users\.id is UUID: "):
        build_plan(conn, mapping)
    engine.dispose()
