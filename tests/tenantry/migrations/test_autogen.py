"""Autogenerate for an app's models: the revision it writes runs as written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from tenantry.cli.main import app
from tenantry.models import Base

MODELS = '''"""A table with a datetime column, as `Mapped[datetime]` declares one."""
from sqlalchemy import Column, Integer, Table
from tenantry.models import Base
from tenantry.models.base import UTCDateTime

stamps = Table(
    "autogen_stamps", Base.metadata,
    Column("id", Integer, primary_key=True), Column("at", UTCDateTime(), nullable=True),
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
    run("migrate", "--db", url, "--app", "migrations")  # was: NameError: name 'tenantry'
    engine = create_engine(url)
    try:
        assert "at" in {c["name"] for c in inspect(engine).get_columns("autogen_stamps")}
    finally:
        engine.dispose()
    run("migrations", "revision", "-m", "again", "--dir", "migrations", "--db", url)
    [again] = (project / "migrations" / "versions").glob("*_again.py")
    assert "alter_column" not in again.read_text()  # the type compares equal: no change
