"""The command line: readable errors and exit codes, --init, dry run, apply, rollback."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from tenantry.cli.main import app
from tenantry.migrate import conversion_engine, load_mapping, state
from tenantry.migrate.samples import example_mapping
from tests.migrate.conftest import strict_mapping
from tests.migrate.test_sqlite_limits import legacy, mapping

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["tenantize", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_bad_input_is_explained_without_traceback(tmp_path: Path) -> None:
    code, out = run("--db", "nonsense://", "--map", "x.toml")
    assert code == 1 and "error:" in out and "Traceback" not in out
    code, out = run("--db", f"sqlite:///{tmp_path}/x.db", "--map", str(tmp_path / "none.toml"))
    assert code == 1 and "mapping file not found" in out
    code, out = run("--db", f"sqlite:///{tmp_path}/x.db", "--apply", "--rollback")
    assert code == 1 and "choose one" in out
    code, out = run("--db", f"sqlite:///{tmp_path}/x.db", "--map", "x.toml", "--users", "people")
    assert code == 1 and "--users goes with --init" in out
    code, out = run("--db", f"sqlite:///{tmp_path}/x.db", "--init", "--users", "")
    assert code == 1 and "--users: name the table of people" in out


def test_undeclared_tables_are_refused(sqlite_sample: Callable[..., str], tmp_path: Path) -> None:
    url = sqlite_sample("electricity")
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        '[users]\ntable = "users"\nemail = "email"\n[tables.readings]\nowner = "user_id"\n'
    )
    code, out = run("--db", url, "--map", str(mapping))
    assert code == 1 and "undeclared: vouchers" in out


def test_dry_run_stops_on_problems_then_apply_and_rollback(
    sqlite_sample: Callable[..., str], tmp_path: Path
) -> None:
    url = sqlite_sample("workflows")
    code, out = run("--db", url, "--map", str(strict_mapping("workflows", tmp_path)), "--dry-run")
    assert code == 2 and "missing_owner" in out and "Nothing was changed" in out
    code, out = run(
        "--db",
        url,
        "--map",
        str(strict_mapping("workflows", tmp_path)),
        "--apply",
        "--quiet",
        "--backup",
        str(tmp_path / "b.sqlite"),
    )
    assert code == 1 and "need a policy" in out
    example = str(example_mapping("workflows"))
    code, out = run("--db", url, "--map", example)
    assert code == 0 and "nothing was changed" in out
    report = tmp_path / "report.json"
    code, out = run(
        "--db",
        url,
        "--map",
        example,
        "--apply",
        "--quiet",
        "--backup",
        str(tmp_path / "b.sqlite"),
        "--report",
        str(report),
    )
    assert code == 0 and "verified" in out and report.exists()
    code, out = run("--db", url, "--map", example, "--verify", "--quiet")
    assert code == 0 and "verified" in out
    code, out = run("--db", url, "--rollback")
    assert code == 0 and "restored" in out
    engine = conversion_engine(url)
    with engine.connect() as conn:
        assert state.run_status(conn) is None
    engine.dispose()


def test_init_drafts_a_mapping_that_loads(
    sqlite_sample: Callable[..., str], tmp_path: Path
) -> None:
    url = sqlite_sample("fencing")
    target = tmp_path / "draft.toml"
    code, out = run("--db", url, "--init", "--map", str(target))
    assert code == 0, out
    draft = load_mapping(target)
    assert draft.tables["pricing_zones"].is_global
    assert str(draft.tables["roi_calculations"].owner) == "quote_id -> quotes"
    assert "REVIEW" in target.read_text()
    code, out = run("--db", url, "--init", "--map", str(target))
    assert code == 1 and "--force" in out
    assert tomllib.loads(target.read_text())["users"]["table"] == "users"
    code, out = run("--db", url, "--init", "--users", "quotes")  # to stdout, without --map
    assert code == 1 and "quotes has no address column" in out
    code, out = run("--db", url, "--init", "--users", "users.email")
    assert code == 0 and '[users]\ntable = "users"' in out


def test_a_misspelt_parent_table_is_named_as_the_one_the_database_lacks(
    tmp_path: Path,
) -> None:
    """It was reported as '[tables.card_tags]: card_id -> cards names an undeclared table'."""
    url = legacy(
        tmp_path,
        "CREATE TABLE cards (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id))",
        "CREATE TABLE card_tags (id INTEGER PRIMARY KEY, card_id INTEGER REFERENCES cards(id))",
    )
    toml = mapping(
        tmp_path,
        '[tables.crads]\nowner = "user_id"\n[tables.card_tags]\nowner = "card_id -> cards"\n',
    )
    code, out = run("--db", url, "--map", toml)
    assert code == 1 and "the mapping names tables the database lacks: crads" in out, out
    assert "undeclared table" not in out


def test_a_mistyped_sqlite_path_is_refused_by_every_mode_and_not_created(
    tmp_path: Path,
) -> None:
    """--apply, --verify and --rollback created an empty typo.db and then failed on it
    (the dry run and --init already refused)."""
    legacy(tmp_path)
    toml = mapping(tmp_path, "")
    typo = tmp_path / ("a-folder-with-a-name-long-enough-to-pass-the-console-width" * 2) / "typo.db"
    typo.parent.mkdir()
    for mode in ("--apply", "--verify", "--rollback", "--dry-run", "--init"):
        code, out = run("--db", f"sqlite:///{typo}", "--map", toml, mode, "--quiet")
        assert code == 1 and f"no SQLite database at {typo}\n" in out, out  # whole, to copy
        assert list(typo.parent.glob("typo.db*")) == [], mode


def test_verify_refuses_a_mapping_other_than_the_one_converted_with(tmp_path: Path) -> None:
    """--verify said 'verified' with another mapping, which --apply refuses; the dry run
    said 'conversion status: done' with it, exit 0."""
    url = legacy(tmp_path)
    toml = mapping(tmp_path, "")
    code, out = run("--db", url, "--map", toml, "--apply", "--quiet")
    assert code == 0 and "verified" in out, out
    other = tmp_path / "other.toml"
    other.write_text(Path(toml).read_text().replace('"{email}"', '"{email} notes"'))
    for mode in ("--verify", "--apply", "--quiet"):  # the last: the dry run
        code, out = run("--db", url, "--map", str(other), mode, "--quiet")
        assert code == 1 and "converted with a different mapping" in out, out
        assert "verified" not in out
    code, out = run("--db", url, "--map", toml, "--verify", "--quiet")
    assert code == 0 and "verified" in out, out


def test_a_failed_apply_still_writes_its_report(
    sqlite_sample: Callable[..., str], tmp_path: Path
) -> None:
    url = sqlite_sample("workflows")
    report = tmp_path / "report.json"
    strict = str(strict_mapping("workflows", tmp_path))
    code, out = run("--db", url, "--map", strict, "--apply", "--quiet", "--report", str(report))
    assert code == 1 and "need a policy" in out
    written = json.loads(report.read_text())
    assert written["status"] == "failed" and "need a policy" in written["error"]


def test_a_driver_error_raised_outside_sqlalchemy_is_said_without_a_traceback() -> None:
    """A raw cursor's psycopg error (checksums read tables through one) passed as a bug."""
    import psycopg

    from tenantry.cli.tenantize import _error_message

    said = _error_message(psycopg.errors.DataError("date too large (after year 10K)\nmore"))
    assert said == "database error: date too large (after year 10K)"


def test_the_converted_tenants_are_put_on_the_mappings_plan(tmp_path: Path) -> None:
    """Every converted tenant was on 'free', whatever the app's catalogue calls its plans."""
    import sqlite3

    url = legacy(tmp_path)
    toml = mapping(tmp_path, "")
    text = (
        Path(toml)
        .read_text()
        .replace('kind = "personal"\n', 'kind = "personal"\nplan = "starter"\n')
    )
    Path(toml).write_text(text + '[extra_tenants.spare]\nname = "Spare"\n')
    code, out = run("--db", url, "--map", toml, "--apply", "--quiet")
    assert code == 0 and "verified" in out, out
    con = sqlite3.connect(tmp_path / "r.db")
    plans = con.execute("SELECT slug, plan FROM tenantry_tenants ORDER BY slug").fetchall()
    con.close()
    assert len(plans) == 3 and {plan for _slug, plan in plans} == {"starter"}, plans


def test_one_tenant_for_a_whole_company_with_its_users_as_members(
    tmp_path: Path, legacy_url: str
) -> None:
    """Seed 001's CRM is one contractor's: its users are colleagues. tenantize could only
    give each user a tenant of their own, a colleague's assignments and approvals then
    named a stranger to the row's tenant, and a lead of one salesperson under another's
    customer was a mixed parent."""
    import tomllib

    from sqlalchemy import create_engine

    from tenantry.migrate import parse_mapping
    from tests.migrate import seeds
    from tests.migrate.test_seed_schemas import convert, owner_view

    postgres = legacy_url.startswith("postgresql")
    pk = "SERIAL PRIMARY KEY" if postgres else "INTEGER PRIMARY KEY"
    seeds.build(
        legacy_url,
        [
            f"CREATE TABLE users (id {pk}, email TEXT NOT NULL, pw TEXT)",
            f"CREATE TABLE customers (id {pk}, user_id INTEGER NOT NULL REFERENCES users(id),"
            " name TEXT NOT NULL)",
            f"CREATE TABLE leads (id {pk}, user_id INTEGER NOT NULL REFERENCES users(id),"
            " customer_id INTEGER NOT NULL REFERENCES customers(id),"
            " assigned_to INTEGER REFERENCES users(id), title TEXT)",
        ],
        {
            "users": [{"id": i, "email": f"u{i}@acme.example", "pw": None} for i in (1, 2, 3)],
            "customers": [{"id": 1, "user_id": 1, "name": "Smith"}],
            "leads": [  # Bea's lead under Al's customer, assigned to Cy
                {"id": 1, "user_id": 2, "customer_id": 1, "assigned_to": 3, "title": "fence"}
            ],
        },
    )
    toml = tmp_path / "acme.toml"
    toml.write_text(
        'version = 1\n[users]\ntable = "users"\nemail = "email"\n'
        '[tenants]\nname = "Acme Fencing"\nkind = "business"\nsingle = true\n'
        'owner = "U2@acme.example"\nrole = "admin"\n'
        '[tables.customers]\nowner = "user_id"\n'
        '[tables.leads]\nowner = "user_id"\nreferences = ["assigned_to -> users"]\n'
    )
    toml.write_text(toml.read_text().replace("U2@", "nobody@"))
    code, out = run("--db", legacy_url, "--map", str(toml))
    assert code == 1 and "[tenants] owner names 'nobody@acme.example', but no user" in out, out
    toml.write_text(toml.read_text().replace("nobody@", "U2@"))
    report = tmp_path / "plan.json"
    code, out = run("--db", legacy_url, "--map", str(toml), "--report", str(report))
    assert code == 0, out  # no mixed parents: every row is the company's
    assert "one tenant, owned by user 2, the others its admins" in " ".join(out.split())
    plan = json.loads(report.read_text())["plan"]
    assert not plan["problems"] and not any("assigned_to" in w for w in plan["warnings"])
    engine = create_engine(legacy_url)
    try:
        convert(engine, parse_mapping(tomllib.loads(toml.read_text())), tmp_path / "b")
        with owner_view(engine) as conn:
            tenants = conn.exec_driver_sql(
                "SELECT id, slug, name, kind FROM tenantry_tenants"
            ).all()
            assert [tuple(t[1:]) for t in tenants] == [("acme-fencing", "Acme Fencing", "business")]
            members = conn.exec_driver_sql(
                "SELECT user_id, role FROM tenantry_memberships ORDER BY user_id"
            ).all()
            assert [tuple(m) for m in members] == [(1, "admin"), (2, "owner"), (3, "admin")]
            held = conn.exec_driver_sql(
                "SELECT count(DISTINCT tenant_id) FROM (SELECT tenant_id FROM customers "
                "UNION ALL SELECT tenant_id FROM leads) t"
            ).scalar()
            assert held == 1
    finally:
        engine.dispose()
    checked = tmp_path / "verify.json"
    code, out = run("--db", legacy_url, "--map", str(toml), "--verify", "--report", str(checked))
    assert code == 0 and "verified" in out, out
    found = {c["name"]: c for c in json.loads(checked.read_text())["verification"]["checks"]}
    assert found["tenants"]["ok"], found["tenants"]
    assert found["tenants"]["detail"] == (
        "3 legacy users in one tenant, user 2 its owner, 2 its admins"
    )
