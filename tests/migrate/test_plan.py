from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from tenantry.migrate import Plan, build_plan, conversion_engine, load_mapping
from tenantry.migrate.schema import app_tables, table_info
from tests.migrate.conftest import example, strict_mapping
from tests.migrate.test_sqlite_limits import mapping, tenantize

# The awkward cases each sample carries, which a mapping without policies must refuse.
EXPECTED = {
    "electricity": {"orphan", "missing_owner", "email_collision"},
    "fencing": {"orphan", "mixed_parents", "email_collision"},
    "workflows": {"missing_owner", "email_collision"},
    "cards": {"mixed_parents", "email_collision"},
    "finance": {"orphan", "missing_owner", "mixed_parents", "email_collision"},
}


def test_dry_run_refuses_awkward_cases_without_policies(
    sample_app: str, sqlite_sample: Callable[..., str], tmp_path: Path
) -> None:
    app = sample_app
    engine = conversion_engine(sqlite_sample(app))
    with engine.connect() as conn:
        before = app_tables(conn)
        plan = build_plan(conn, load_mapping(strict_mapping(app, tmp_path)))
        assert app_tables(conn) == before  # the dry run changes nothing
    assert {p.kind for p in plan.blocking} == EXPECTED[app]
    assert all(p.samples for p in plan.blocking)
    engine.dispose()


def test_example_mappings_resolve_every_problem(
    sample_app: str, sqlite_sample: Callable[..., str]
) -> None:
    app = sample_app
    engine = conversion_engine(sqlite_sample(app))
    with engine.connect() as conn:
        plan = build_plan(conn, example(app))
    assert plan.blocking == []
    engine.dispose()


def test_clean_data_has_no_problems(
    sample_app: str, sqlite_sample: Callable[..., str], tmp_path: Path
) -> None:
    app = sample_app
    engine = conversion_engine(sqlite_sample(app, awkward=False))
    with engine.connect() as conn:
        plan = build_plan(conn, load_mapping(strict_mapping(app, tmp_path)))
    assert plan.problems == []
    assert all(r.fk != "keep" for t in plan.tables for r in t.refs if r.role != "global")
    engine.dispose()


def test_the_dry_run_names_what_the_sqlite_rebuild_drops(tmp_path: Path) -> None:
    """A CHECK constraint or a column collation is not carried over by the rebuild (a known
    limit): the dry run says so for each owned table that has one, and only for those."""
    from sqlalchemy import create_engine

    from tests.migrate.test_seed_schemas import mapping_of

    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    legacy = create_engine(url)
    with legacy.begin() as conn:
        for ddl in (
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)",
            "CREATE TABLE logs (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id),"
            " status TEXT CHECK (status IN ('ok', 'error')))",
            "CREATE TABLE tags (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id),"
            " name TEXT COLLATE NOCASE)",
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id),"
            " body TEXT DEFAULT 'plain')",
        ):
            conn.exec_driver_sql(ddl)
    legacy.dispose()
    mapping = mapping_of(
        '[users]\ntable = "users"\nemail = "email"\n'
        + "".join(f'[tables.{t}]\nowner = "user_id"\n' for t in ("logs", "tags", "notes"))
    )
    engine = conversion_engine(url)
    with engine.connect() as conn:
        warnings = build_plan(conn, mapping).warnings
    engine.dispose()
    lost = [w for w in warnings if "will not be carried over" in w]
    assert len(lost) == 2
    assert any(w.startswith("logs: its CHECK constraint") for w in lost)
    assert any(w.startswith("tags: its column collation") for w in lost)


def test_an_email_override_for_nobody_or_for_a_taken_address_is_a_mistake(
    tmp_path: Path,
) -> None:
    """Both were silent: one ignored, the other suffixed like any collision and labelled
    '(override)'."""
    import sqlite3

    import pytest

    from tenantry.migrate import MappingError, parse_mapping

    path = tmp_path / "people.db"
    with sqlite3.connect(path) as con:
        con.executescript(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);"
            "CREATE TABLE notes (id INTEGER PRIMARY KEY,"
            " user_id INTEGER NOT NULL REFERENCES users(id));"
            "INSERT INTO users VALUES (1, 'ann@example.com'), (2, 'bo@example.com');"
        )
    engine = conversion_engine(f"sqlite:///{path}")

    def plan_with(overrides: dict[str, str]) -> object:
        users = {"table": "users", "email": "email", "email_overrides": overrides}
        mapping = {"version": 1, "users": users, "tables": {"notes": {"owner": "user_id"}}}
        with engine.connect() as conn:
            return build_plan(conn, parse_mapping(mapping))

    with pytest.raises(MappingError, match="names user ids 999 that the users table"):
        plan_with({"999": "zed@example.com"})
    with pytest.raises(MappingError, match=r"gives user 2 the address 'ann@example\.com'"):
        plan_with({"2": "Ann@Example.com"})
    assert plan_with({"2": "bo.new@example.com"})  # a free address: fine
    engine.dispose()


def test_suffixed_addresses_are_announced_only_under_the_suffix_policy(tmp_path: Path) -> None:
    """Under the default policy (fail) the dry run announced 'a+legacy-2@x.com (suffix)'
    for a collision that stops the run."""
    import sqlite3

    from tenantry.migrate import parse_mapping

    path = tmp_path / "people.db"
    with sqlite3.connect(path) as con:
        con.executescript(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);"
            "INSERT INTO users VALUES (1, 'A@x.com'), (2, ' a@x.com');"
        )
    con.close()
    engine = conversion_engine(f"sqlite:///{path}")

    def plan_with(policies: dict[str, str]) -> Plan:
        users = {"table": "users", "email": "email"}
        data = {"version": 1, "users": users, "tables": {}, "policies": policies}
        with engine.connect() as conn:
            return build_plan(conn, parse_mapping(data))

    failing = plan_with({})
    assert [p.kind for p in failing.blocking] == ["email_collision"]
    assert failing.email_changes == []
    suffixed = plan_with({"email_collision": "suffix"})
    assert suffixed.blocking == []
    assert [(c["user_id"], c["email"], c["reason"]) for c in suffixed.email_changes] == [
        (2, "a+legacy-2@x.com", "suffix")
    ]
    engine.dispose()


def test_an_expression_index_is_kept_and_said_without_sqlalchemy_warnings(
    legacy_url: str, tmp_path: Path
) -> None:
    """On SQLite the dry run and --apply printed SQLAlchemy's 'Skipped unsupported
    reflection of expression-based index' (an error under this suite's warning filter)."""
    engine = _users_and_notes(
        legacy_url,
        "CREATE INDEX ix_notes_lower_body ON notes (lower(body))",
        "INSERT INTO notes VALUES (1, 1, 'A')",
    )
    toml = mapping(tmp_path, "")
    report = tmp_path / "plan.json"
    code, out = tenantize("--db", legacy_url, "--map", toml, "--report", str(report))
    assert code == 0, out
    assert (
        "notes: index ix_notes_lower_body is on an expression: it is kept as it is, without a "
        "twin leading with tenant_id (the tenant indexes are made of columns)"
    ) in json.loads(report.read_text())["plan"]["warnings"]
    backup = tmp_path / "before.bak"
    code, out = tenantize(
        "--db", legacy_url, "--map", toml, "--apply", "--quiet", "--backup", str(backup)
    )
    assert code == 0 and "verified" in out, out
    with engine.connect() as conn:
        kept = conn.exec_driver_sql(
            "SELECT 1 FROM pg_indexes WHERE indexname = 'ix_notes_lower_body'"
            if conn.dialect.name == "postgresql"
            else "SELECT 1 FROM sqlite_master WHERE name = 'ix_notes_lower_body'"
        ).scalar()
    engine.dispose()
    assert kept == 1


def test_a_descending_index_gets_a_descending_twin(legacy_url: str, tmp_path: Path) -> None:
    """``(user_id, created_at DESC)``, the index of a newest-first list, got the twin
    ``(tenant_id, user_id, created_at)``: all ascending."""
    engine = _users_and_notes(
        legacy_url,
        "ALTER TABLE notes ADD COLUMN created_at TEXT",
        "CREATE INDEX ix_notes_newest ON notes (user_id, created_at DESC, body)",
        "INSERT INTO notes VALUES (1, 1, 'A', '2024-01-01')",
    )
    toml = mapping(tmp_path, "")
    backup = tmp_path / "before.bak"
    code, out = tenantize(
        "--db", legacy_url, "--map", toml, "--apply", "--quiet", "--backup", str(backup)
    )
    assert code == 0 and "verified" in out, out
    twin = "ix_notes_tenant_id_user_id_created_at_body"
    engine.dispose()  # a connection opened before the conversion
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            found = conn.exec_driver_sql(
                f"SELECT indexdef FROM pg_indexes WHERE indexname = '{twin}'"
            ).scalar()
            assert found is not None and found.endswith(
                "(tenant_id, user_id, created_at DESC, body)"
            )
        else:
            order = [
                (row[2], row[3])
                for row in conn.exec_driver_sql(f"PRAGMA index_xinfo({twin})")
                if row[5]
            ]
            assert order == [("tenant_id", 0), ("user_id", 0), ("created_at", 1), ("body", 0)]
    engine.dispose()


_EVENTS = """
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL);
CREATE TABLE events (id bigserial, user_id int NOT NULL REFERENCES users(id),
                     at timestamptz NOT NULL, payload jsonb, PRIMARY KEY (id, at))
  PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE notes (id serial PRIMARY KEY, user_id int NOT NULL REFERENCES users(id));
INSERT INTO users (email) VALUES ('a@x.com'), ('b@x.com');
INSERT INTO events (user_id, at) VALUES (1, '2024-05-01'), (2, '2025-05-01');
INSERT INTO notes (user_id) VALUES (1), (2);
"""


@pytest.mark.postgres
def test_partitioned_tables_are_refused_by_the_dry_run(pg_url: str, tmp_path: Path) -> None:
    """The dry run said 'no data problems found', then --apply failed half-way on 'cannot
    add column to a partition', leaving the run 'converting'."""
    from tests.migrate.test_rollback import status

    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(_EVENTS)
    engine.dispose()
    draft = tmp_path / "draft.toml"
    code, out = tenantize("--db", pg_url, "--init", "--map", str(draft))
    assert code == 0, out
    code, out = tenantize("--db", pg_url, "--map", str(draft), "--report", str(tmp_path / "p.json"))
    assert code == 2 and "no data problems found" not in out, out
    problems = json.loads((tmp_path / "p.json").read_text())["plan"]["problems"]
    assert {(p["table"], p["kind"], p["blocking"]) for p in problems} == {
        ("events", "unsupported", True),
        ("events_2024", "unsupported", True),
        ("events_2025", "unsupported", True),
    }
    details = {p["table"]: p["detail"] for p in problems}
    assert details["events"].startswith("events is a partitioned table: tenantize does not")
    assert details["events_2024"].startswith("events_2024 is a partition of events:")
    assert "global (global = true) or convert them by hand" in details["events_2025"]
    code, out = tenantize(
        "--db", pg_url, "--map", str(draft), "--apply", "--quiet",
        "--backup", str(tmp_path / "b.pgdump"),
    )  # fmt: skip
    assert code == 1 and "need a policy" in out, out
    assert status(pg_url) is None and not (tmp_path / "b.pgdump").exists()

    toml = mapping(
        tmp_path,
        "".join(f"[tables.{t}]\nglobal = true\n" for t in ("events", "events_2024", "events_2025")),
    )
    code, out = tenantize(
        "--db", pg_url, "--map", toml, "--apply", "--quiet", "--backup", str(tmp_path / "b.pgdump")
    )
    assert code == 0 and "verified" in out, out


_QUOTES = [
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)",
    "CREATE TABLE quotes (quote_number TEXT PRIMARY KEY, user_id INTEGER NOT NULL "
    "REFERENCES users(id), total INTEGER)",
    "CREATE TABLE quote_events (quote_number TEXT NOT NULL REFERENCES quotes(quote_number) "
    "ON DELETE CASCADE, at TIMESTAMP, what TEXT)",
    "INSERT INTO users VALUES (1, 'a@x.com'), (2, 'b@x.com')",
    "INSERT INTO quotes VALUES ('Q-1', 1, 10), ('Q-2', 2, 20)",
    "INSERT INTO quote_events VALUES ('Q-1', NULL, 'sent'), ('Q-2', NULL, 'sent')",
]


def test_a_global_tables_foreign_key_into_an_owned_table_is_kept(
    legacy_url: str, tmp_path: Path
) -> None:
    """quote_events (global: no primary key) lost its key to quotes when quotes' primary
    key became (tenant_id, quote_number), and verification still passed; so did a table of
    another schema, which nothing mentioned."""
    from tenantry.migrate import apply, parse_mapping, verify
    from tests.migrate.test_apply import QUIET

    engine = conversion_engine(legacy_url)
    with engine.begin() as conn:
        for statement in _QUOTES:
            conn.exec_driver_sql(statement)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "CREATE SCHEMA audit; CREATE TABLE audit.quote_log (id serial PRIMARY KEY, "
                "quote_number text NOT NULL REFERENCES public.quotes(quote_number) "
                "ON UPDATE CASCADE, what text); INSERT INTO audit.quote_log VALUES (1, 'Q-2', 'x')"
            )
    mapping = parse_mapping(
        {
            "version": 1,
            "users": {"table": "users", "email": "email"},
            "tables": {"quotes": {"owner": "user_id"}, "quote_events": {"global": True}},
        }
    )
    result = apply(engine, mapping, backup_path=tmp_path / "b.bak", reporter=QUIET)
    kept = [str(k) for k in result.plan.table("quotes").incoming]
    events = (
        "quote_events(quote_number) -> quotes(quote_number) ON DELETE CASCADE ON UPDATE NO ACTION"
    )
    log = (
        "audit.quote_log(quote_number) -> quotes(quote_number) "
        "ON DELETE NO ACTION ON UPDATE CASCADE"
    )
    assert kept == ([log, events] if engine.dialect.name == "postgresql" else [events])
    warned = " ".join(result.plan.warnings)
    assert "quote_events (not converted) references owned table quotes" in warned
    checks = verify(engine, mapping, result.plan, QUIET)
    assert checks.ok, [c for c in checks.checks if not c.ok]
    assert "kept:quotes" in {c.name for c in checks.checks}
    with engine.connect() as conn:
        (key,) = [fk for fk in table_info(conn, "quote_events").foreign_keys]
        assert (key.table, key.columns, key.ondelete) == ("quotes", ("quote_number",), "CASCADE")
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # it still cascades
            conn.exec_driver_sql("DELETE FROM quotes WHERE quote_number = 'Q-1'")
            left = conn.exec_driver_sql("SELECT quote_number FROM quote_events").scalars().all()
            assert left == ["Q-2"]
            conn.exec_driver_sql("DELETE FROM quote_events")  # its ON UPDATE is NO ACTION
            conn.exec_driver_sql("UPDATE quotes SET quote_number = 'Q-3'")
            logged = conn.exec_driver_sql("SELECT quote_number FROM audit.quote_log").scalar()
            assert logged == "Q-3"
        assert "audit.quote_log (a table of another schema) references owned table" in warned
        with engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE quote_events DROP CONSTRAINT {key.name}")
        failed = {c.name: c.detail for c in verify(engine, mapping, result.plan, QUIET).checks}
        assert "missing after: quote_events(quote_number) -> quotes" in failed["kept:quotes"]
    engine.dispose()


def test_a_unique_column_of_an_owned_table_is_named_in_the_dry_run(
    legacy_url: str, tmp_path: Path
) -> None:
    """It stays unique across tenants: one tenant's value refused because another has it
    (and so learns it exists). Only `tenantry doctor`, after the conversion, said so."""
    _users_and_notes(legacy_url, "CREATE UNIQUE INDEX uq_notes_body ON notes (body)").dispose()
    report = tmp_path / "plan.json"
    code, out = tenantize(
        "--db", legacy_url, "--map", mapping(tmp_path, ""), "--report", str(report)
    )
    assert code == 0, out
    warnings = json.loads(report.read_text())["plan"]["warnings"]
    assert [w for w in warnings if w.startswith("notes: unique (body) stays unique across all")]
    assert "notes: unique (body)" in out


def _dry_run_warnings(url: str, toml: str, tmp_path: Path) -> list[str]:
    """The warnings of a dry run that finds no problem, from its JSON report."""
    report = tmp_path / "plan.json"
    code, out = tenantize("--db", url, "--map", toml, "--report", str(report))
    assert code == 0, out
    warnings: list[str] = json.loads(report.read_text())["plan"]["warnings"]
    return warnings


def _users_and_notes(url: str, *more: str) -> Engine:
    """A legacy database of users and their notes (one user), then the statements ``more``."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        conn.exec_driver_sql(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL "
            "REFERENCES users(id), body TEXT)"
        )
        conn.exec_driver_sql("INSERT INTO users VALUES (1, 'a@x.com')")
        for statement in more:
            conn.exec_driver_sql(statement)
    return engine


def test_dangling_references_the_dry_run_warns_about_name_their_rows(tmp_path: Path) -> None:
    """A folder whose parent was deleted, a note whose reviewer left: the warnings said how
    many rows, not which, so nobody could find them to clean."""
    from tests.migrate.test_sqlite_limits import legacy

    url = legacy(
        tmp_path,
        "CREATE TABLE folders (id INTEGER PRIMARY KEY,"
        " user_id INTEGER NOT NULL REFERENCES users(id),"
        " parent_id INTEGER REFERENCES folders(id), reviewer_id INTEGER REFERENCES users(id))",
        "INSERT INTO folders VALUES (1, 1, NULL, 2), (2, 1, 1, NULL), (3, 2, 99, 7), (4, 2, 3, 1)",
    )
    toml = mapping(tmp_path, '[tables.folders]\nowner = "user_id"\n')
    code, out = tenantize("--db", url, "--map", toml)
    assert code == 0, out
    assert (
        "folders.parent_id: 1 row(s) name a folders row that does not exist; they are kept "
        "as they are, and the tenant-safe key leaves them unchecked"
    ) in out
    assert "(rows: id=3 → parent_id=99)" in out
    assert "folders.reviewer_id: kept as a plain foreign key to users(id)" in out
    assert "(rows: id=3 → reviewer_id=7)" in out
    assert "id=4" not in out  # its parent and its reviewer exist


def test_a_reference_to_another_user_and_a_unique_per_person_are_said(
    legacy_url: str, tmp_path: Path
) -> None:
    """From strangers' apps: a CRM whose approvals name a colleague (who becomes another
    tenant's owner, and no member of this one) was converted without a word; and a
    finance app's unique (user_id, name) was said to refuse one tenant's value when
    another tenant has it, where it refuses a person's value in their other tenant."""
    _users_and_notes(
        legacy_url,
        "INSERT INTO users VALUES (2, 'b@x.com')",
        "ALTER TABLE notes ADD COLUMN reviewer_id INTEGER REFERENCES users(id)",
        "INSERT INTO notes (id, user_id, body, reviewer_id) VALUES (1, 1, 'a', 2), "
        "(2, 1, 'b', 1), (3, 2, 'c', NULL)",
        "CREATE UNIQUE INDEX uq_notes_user_body ON notes (user_id, body)",
    ).dispose()
    toml = mapping(tmp_path, 'references = ["reviewer_id -> users"]\n')
    warnings = _dry_run_warnings(legacy_url, toml, tmp_path)
    assert (
        "notes.reviewer_id: 1 row(s) name a user other than the row's owner, who will not be "
        "a member of the row's tenant"
    ) in " ".join(warnings)
    per_person = (
        "notes: unique (user_id, body) stays unique across all tenants: a person who belongs "
        "to two tenants is refused in one a value they have in the other"
    )
    assert any(w.startswith(per_person) for w in warnings), warnings


def test_a_partial_index_gets_a_partial_twin_beside_the_references_own(
    legacy_url: str, tmp_path: Path
) -> None:
    """From a stranger's finance app: ``(user_id) WHERE body IS NOT NULL`` got no twin of
    its own (the reference's full one stood for it, without the predicate), and a partial
    unique index was said as a plain one."""
    engine = _users_and_notes(
        legacy_url,
        "CREATE INDEX ix_notes_written ON notes (user_id) WHERE body IS NOT NULL",
        "CREATE UNIQUE INDEX uq_notes_body ON notes (body) WHERE user_id > 0",
        "INSERT INTO notes VALUES (1, 1, 'A'), (2, 1, NULL)",
    )
    toml = mapping(tmp_path, "")
    warnings = _dry_run_warnings(legacy_url, toml, tmp_path)
    assert any(w.startswith("notes: unique (body) where ") and "user_id > 0" in w for w in warnings)
    code, out = tenantize(
        "--db", legacy_url, "--map", toml, "--apply", "--quiet", "--backup", str(tmp_path / "b")
    )
    assert code == 0 and "verified" in out, out
    engine.dispose()  # a connection opened before the conversion
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'notes'"
            ).all()
        else:
            rows = conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'notes'"
                " AND sql IS NOT NULL"
            ).all()
    engine.dispose()
    defs = {name: " ".join(str(sql).split()) for name, sql in rows}
    full = defs["ix_notes_tenant_id_user_id"]
    assert "WHERE" not in full.upper()  # the reference's own index
    [partial] = [d for n, d in defs.items() if n.startswith("ix_notes_tenant_id_user_id_partial")]
    assert "tenant_id" in partial and "WHERE" in partial.upper() and "body IS NOT NULL" in partial
