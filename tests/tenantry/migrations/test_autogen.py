"""Autogenerate for an app's models: the revision it writes runs as written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from tenantry.cli.main import app
from tenantry.models import Base

MODELS = '''"""A table with a datetime column, as `Mapped[datetime]` declares one, and a
JSON column that is JSONB on PostgreSQL, a uuid kept as text and a type of the app's own."""
from sqlalchemy import JSON, Column, Integer, String, Table, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from tenantry.models import Base, UuidText
from tenantry.models.base import UTCDateTime


class Upper(TypeDecorator):  # a type of the app's own
    impl = String(20)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else value.upper()


stamps = Table(
    "autogen_stamps", Base.metadata,
    Column("id", Integer, primary_key=True), Column("at", UTCDateTime(), nullable=True),
    Column("doc", JSON().with_variant(JSONB(), "postgresql"), nullable=True),
    Column("ref", UuidText(), nullable=True), Column("code", Upper(), nullable=True),
)
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "stampmodels.py").write_text(MODELS)
    yield tmp_path
    table = Base.metadata.tables.get("autogen_stamps")
    if table is not None:  # other tests see tenantry's metadata as it was
        Base.metadata.remove(table)
    monkeypatch.delitem(__import__("sys").modules, "stampmodels", raising=False)


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_a_revision_with_a_datetime_column_migrates(project: Path) -> None:
    url = f"sqlite:///{project / 'app.db'}"
    run("migrations", "init", "migrations", "--models", "stampmodels")
    run("migrate", "--db", url, "--app", "migrations")
    run("migrations", "revision", "-m", "stamps", "--dir", "migrations", "--db", url)
    # was: NameError: name 'tenantry' (the datetime), then name 'Text' (JSONB's astext_type,
    # rendered by SQLite's rules), then name 'stampmodels' (the app's own type)
    run("migrate", "--db", url, "--app", "migrations")
    engine = create_engine(url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("autogen_stamps")}
        assert {"at", "doc", "ref", "code"} <= columns
    finally:
        engine.dispose()
    run("migrations", "revision", "-m", "again", "--dir", "migrations", "--db", url)
    [again] = (project / "migrations" / "versions").glob("*_again.py")
    assert "alter_column" not in again.read_text()  # the type compares equal: no change


def test_a_revision_that_fails_is_named_with_its_line_without_a_traceback(project: Path) -> None:
    url = f"sqlite:///{project / 'app.db'}"
    run("migrations", "init", "migrations", "--models", "stampmodels")
    run("migrate", "--db", url, "--app", "migrations")
    run("migrations", "revision", "-m", "stamps", "--dir", "migrations", "--db", url)
    [revision] = (project / "migrations" / "versions").glob("*_stamps.py")
    text = revision.read_text()
    end = "    # ### end Alembic commands ###"  # after the table is made: it is rolled back
    revision.write_text(text.replace(end, f"    Text()\n{end}", 1))
    result = CliRunner().invoke(app, ["migrate", "--db", url, "--app", "migrations"])
    line = revision.read_text().splitlines().index("    Text()") + 1
    said = f"error: {revision}, line {line}: NameError: name 'Text' is not defined"
    assert result.exit_code == 1 and said in result.output, result.output
    assert "Traceback" not in result.output and "nothing was applied" in result.output
    engine = create_engine(url)
    try:
        assert "autogen_stamps" not in inspect(engine).get_table_names()  # rolled back
    finally:
        engine.dispose()
    revision.write_text(text + "\ndef broken(:\n")
    result = CliRunner().invoke(app, ["migrate", "--db", url, "--app", "migrations"])
    assert result.exit_code == 1 and f"error: {revision}, line" in result.output, result.output
    assert "SyntaxError: invalid syntax" in result.output


def test_a_core_only_migrate_of_an_app_database_says_to_give_the_app_directory(
    project: Path,
) -> None:
    """Found by an outside tester: once the app's own revision was applied, `tenantry migrate`
    without `--app` said a newer release had migrated the database and to restore a backup."""
    url = f"sqlite:///{project / 'app.db'}"
    run("migrations", "init", "migrations", "--models", "stampmodels")
    run("migrate", "--db", url, "--app", "migrations")
    run("migrations", "revision", "-m", "stamps", "--dir", "migrations", "--db", url)
    run("migrate", "--db", url, "--app", "migrations")
    result = CliRunner().invoke(app, ["migrate", "--db", url])
    assert result.exit_code == 1, result.output
    assert "If it is one of your app's migrations" in result.output
    assert "tenantry migrate --app DIR" in result.output and "Traceback" not in result.output
    assert "run that release" in result.output  # still said, second
