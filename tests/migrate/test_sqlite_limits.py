"""What SQLite's rebuild cannot convert is refused by the dry run, before any change."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from tenantry.cli.main import app

HEADER = (
    'version = 1\n[users]\ntable = "users"\nemail = "email"\n'
    '[tenants]\nname = "{email}"\nkind = "personal"\n'
)


def legacy(tmp_path: Path, *ddl: str) -> str:
    """The new user's database: users and their notes, plus the tables in ``ddl``."""
    path = tmp_path / "r.db"
    with sqlite3.connect(path) as con:
        con.executescript(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);"
            "CREATE TABLE notes (id INTEGER PRIMARY KEY,"
            " user_id INTEGER NOT NULL REFERENCES users(id), body TEXT);"
            "INSERT INTO users VALUES (1, 'a@x.com'), (2, 'b@x.com');"
            "INSERT INTO notes VALUES (1, 1, 'a'), (2, 2, 'b');" + ";".join(ddl)
        )
    con.close()
    return f"sqlite:///{path}"


def mapping(tmp_path: Path, tables: str) -> str:
    path = tmp_path / "r.toml"
    path.write_text(HEADER + '[tables.notes]\nowner = "user_id"\n' + tables, encoding="utf-8")
    return str(path)


def tenantize(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["tenantize", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, " ".join(result.output.split())


def refused_before_any_change(url: str, toml: str, tmp_path: Path) -> str:
    """The details of the dry run's blocking problems (one line each); --apply must stop
    too, with no backup taken and no tenantry table made."""
    report = tmp_path / "plan.json"
    code, out = tenantize("--db", url, "--map", toml, "--report", str(report))
    assert code == 2, out
    problems = json.loads(report.read_text())["plan"]["problems"]
    assert {(p["kind"], p["blocking"]) for p in problems} == {("unsupported", True)}
    backup = tmp_path / "before.sqlite"
    code, applied = tenantize(
        "--db", url, "--map", toml, "--apply", "--quiet", "--backup", str(backup)
    )
    assert code == 1 and "need a policy" in applied, applied
    assert not backup.exists()
    with sqlite3.connect(tmp_path / "r.db") as con:
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert not any(n.startswith("tenantry_") for n in names)
    return "\n".join(p["detail"] for p in problems)


def test_a_without_rowid_table_is_refused_by_the_dry_run(tmp_path: Path) -> None:
    url = legacy(
        tmp_path,
        "CREATE TABLE wishlist (user_id INTEGER NOT NULL REFERENCES users(id),"
        " card TEXT NOT NULL, PRIMARY KEY (user_id, card)) WITHOUT ROWID",
    )
    out = refused_before_any_change(
        url, mapping(tmp_path, '[tables.wishlist]\nowner = "user_id"\n'), tmp_path
    )
    assert "wishlist is a WITHOUT ROWID table" in out
    assert "recreate it as an ordinary table" in out


def test_a_generated_column_is_refused_by_the_dry_run(tmp_path: Path) -> None:
    url = legacy(
        tmp_path,
        "CREATE TABLE items (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id),"
        " price REAL, qty INTEGER, total REAL GENERATED ALWAYS AS (price*qty) VIRTUAL)",
    )
    out = refused_before_any_change(
        url, mapping(tmp_path, '[tables.items]\nowner = "user_id"\n'), tmp_path
    )
    assert "items.total: generated columns cannot be copied" in out
    assert "ALTER TABLE items DROP COLUMN" in out


def test_a_without_rowid_global_table_is_left_alone(tmp_path: Path) -> None:
    url = legacy(tmp_path, "CREATE TABLE zones (code TEXT PRIMARY KEY, name TEXT) WITHOUT ROWID")
    code, out = tenantize(
        "--db", url, "--map", mapping(tmp_path, "[tables.zones]\nglobal = true\n")
    )
    assert code == 0 and "no data problems found" in out, out


def test_views_reading_converted_tables_are_reported(tmp_path: Path) -> None:
    """They were kept silently, showing every tenant's rows after the conversion."""
    url = legacy(
        tmp_path,
        "CREATE TABLE zones (code TEXT PRIMARY KEY)",
        'CREATE VIEW collection_sizes AS SELECT user_id, count(*) AS n FROM "notes" GROUP BY 1',
        "CREATE VIEW zone_names AS SELECT code FROM zones",
    )
    report = tmp_path / "plan.json"
    toml = mapping(tmp_path, "[tables.zones]\nglobal = true\n")
    code, out = tenantize("--db", url, "--map", toml, "--report", str(report))
    assert code == 0, out
    warnings = json.loads(report.read_text())["plan"]["warnings"]
    views = [w for w in warnings if w.startswith("view ")]
    assert views == [
        "view collection_sizes reads notes: it is kept as it is and shows every tenant's "
        "rows (SQLite has no row-level security); drop it, or create it again with a "
        "tenant_id filter, if the app or anyone else reads it"
    ]
