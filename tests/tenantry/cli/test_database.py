"""Every command opening a database: a bad URL, an unreachable database or a missing
directory ends in one line naming the command, exit 2, never a traceback."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tenantry.cli.main import app

UNREACHABLE = "sqlite:////nonexistent-tenantry-dir/sub/x.db"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["migrate"], "migrate"),
        (["migrations", "revision", "-m", "x", "--dir", "{dir}"], "migrations"),
        (["tenants", "list"], "tenants"),
        (["tenants", "purge"], "tenants"),
        (["tenants", "export", "casa"], "tenants"),
        (["admin", "list"], "admin"),
        (["admin", "grant", "a@example.com"], "admin"),
        (["audit", "prune"], "audit prune"),
        (["doctor"], "doctor"),
    ],
)
@pytest.mark.parametrize(
    "url", ["garbage", "nosuchdialect://x/y", "mysql://x/y", "postgresql+asyncpg://x/y"]
)
def test_a_bad_database_url_is_one_line_and_exit_2(
    args: list[str], command: str, url: str, tmp_path: Path
) -> None:
    (tmp_path / "versions").mkdir()
    (tmp_path / "env.py").write_text("")
    code, out = run(*[a.format(dir=tmp_path) for a in args], "--db", url)
    assert code == 2, out
    assert out.startswith(f"tenantry {command}: bad database URL: "), out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["migrate"],
        ["tenants", "list"],
        ["tenants", "export", "casa"],
        ["admin", "list"],
        ["audit", "prune"],
    ],
)
def test_an_unreachable_database_is_one_line_and_exit_2(args: list[str]) -> None:
    code, out = run(*args, "--db", UNREACHABLE)
    assert code == 2, out
    # migrate would make the file, so it says which folder is missing; the others read one.
    said = "no directory /nonexistent" if args == ["migrate"] else "unable to open database file"
    assert said in out, out
    assert len(out.strip().splitlines()) == 1
    assert not Path("/nonexistent-tenantry-dir").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["tenants", "list"],
        ["tenants", "purge"],
        ["tenants", "export", "casa"],
        ["tenants", "import", "{file}"],
        ["admin", "list"],
        ["audit", "prune"],
    ],
)
def test_a_mistyped_sqlite_path_is_said_and_no_empty_database_is_left(
    args: list[str], tmp_path: Path
) -> None:
    """Once: an empty file created at the typo, then 'no such table: tenantry_tenants'."""
    document = tmp_path / "casa.json"
    document.write_text("{}")
    typo = tmp_path / "tenantyr.sqlite3"
    code, out = run(*[a.format(file=document) for a in args], "--db", f"sqlite:///{typo}")
    assert code == 2, out
    assert f"no database at {typo}" in out and "no such table" not in out, out
    assert len(out.strip().splitlines()) == 1
    assert not typo.exists()


@pytest.mark.parametrize(
    ("where", "said"),
    [("{tmp}", "is a folder: name the file to write"), ("{tmp}/no/x.json", "there is no folder")],
)
def test_an_export_to_where_no_file_can_be_is_refused_first(
    tmp_path: Path, where: str, said: str
) -> None:
    output = where.format(tmp=tmp_path)
    code, out = run("tenants", "export", "casa", "-o", output, "--db", UNREACHABLE)
    assert code == 2, out
    assert out.startswith("tenantry tenants: ") and said in out, out  # before the database


def test_audit_prune_refuses_a_retention_past_any_date(tmp_path: Path) -> None:
    code, out = run("audit", "prune", "--days", "800000", "--db", f"sqlite:///{tmp_path}/a.db")
    assert code == 2 and "36500" in out, out
    assert "Traceback" not in out


def test_migrations_revision_without_an_initialised_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    code, out = run("migrations", "revision", "-m", "x", "--dir", str(missing), "--db", "sqlite://")
    assert code == 2, out
    assert f"{missing} has no env.py: run `tenantry migrations init {missing}` first" in out


def test_migrate_with_an_app_directory_that_does_not_exist(tmp_path: Path) -> None:
    code, out = run("migrate", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--app", "nowhere")
    assert code == 2, out
    assert "nowhere has no env.py" in out


def test_migrations_init_refuses_a_models_module_that_does_not_import(tmp_path: Path) -> None:
    code, out = run("migrations", "init", str(tmp_path / "m"), "--models", "no.such.module")
    assert code == 2, out
    assert "cannot import models module 'no.such.module'" in out
    assert not (tmp_path / "m").exists()  # nothing written


def test_migrate_says_which_revisions_it_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "emptymodels.py").write_text('"""No tables: only the app branch."""\n')
    url = f"sqlite:///{tmp_path / 'app.db'}"
    code, out = run("migrations", "init", "migrations", "--models", "emptymodels")
    assert code == 0, out
    code, out = run("migrate", "--db", url, "--app", "migrations")
    assert code == 0, out
    assert re.search(r"applied \d+ revision\(s\): 0001_core, ", out), out
    assert "up to date" not in out
    code, out = run(
        "migrations", "revision", "-m", "first", "--dir", "migrations", "--db", url, "--empty"
    )
    assert code == 0, out
    [file] = (tmp_path / "migrations" / "versions").glob("*_first.py")
    found = re.search(r"^revision: str = '(\w+)'", file.read_text(), re.M)
    assert found, file.read_text()
    code, out = run("migrate", "--db", url, "--app", "migrations")
    assert code == 0, out
    assert out.strip() == f"applied 1 revision(s): {found.group(1)}"
    code, out = run("migrate", "--db", url, "--app", "migrations")
    assert code == 0 and out.strip() == "schema is up to date", out


def test_doctor_on_a_database_of_another_app_says_it_is_not_tenantrys(tmp_path: Path) -> None:
    """It said "ok: no problems" about a database holding only tables of another app."""
    other = tmp_path / "other.sqlite3"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)")
    con.close()
    code, out = run("doctor", "--db", f"sqlite:///{other}")
    assert code == 2, out
    assert "has no tenantry tables (tenantry_tenants)" in out


def test_import_of_a_directory_says_so(tmp_path: Path) -> None:
    code, out = run("tenants", "import", str(tmp_path), "--db", f"sqlite:///{tmp_path}/x.db")
    assert code == 1, out
    assert f"{tmp_path} is a directory" in out
