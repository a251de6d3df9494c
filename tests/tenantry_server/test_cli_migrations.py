"""The ``tenantry`` command applies the bundled plugins' migrations exactly where a database
was made with them: the server's database, not an app's."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from sqlalchemy import create_engine
from typer.testing import CliRunner

from tenantry import accounts
from tenantry.db import Database
from tenantry.migrations.runner import dirs_in_use, upgrade
from tenantry_server.app import default_plugins, migrate
from tenantry_server.cli import app
from tenantry_server.settings import Settings
from tests.conftest import FAST_PASSWORDS
from tests.support.placement import sqlite_server, write_placements

PLUGIN_DIRS = [d for p in default_plugins() for d in p.migrations]


def _server_database(path: Path) -> str:
    url = f"sqlite:///{path}"
    migrate(Settings(database_url=url, secret_key="s" * 40), default_plugins())
    return url


def _app_database(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    upgrade(engine)  # the core's tables only, as a library app's database starts
    engine.dispose()
    return url


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_the_plugins_in_use_are_those_the_database_was_migrated_with(tmp_path: Path) -> None:
    server = create_engine(_server_database(tmp_path / "server.db"))
    library = create_engine(_app_database(tmp_path / "app.db"))
    empty = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert dirs_in_use(server, PLUGIN_DIRS) == PLUGIN_DIRS
    assert dirs_in_use(library, PLUGIN_DIRS) == []
    assert dirs_in_use(empty, PLUGIN_DIRS) == []
    for engine in (server, library, empty):
        engine.dispose()


def test_migrate_finds_the_server_databases_own_revisions(tmp_path: Path) -> None:
    """It failed with "Can't locate revision identified by 'mb0003'"."""
    url = _server_database(tmp_path / "server.db")
    result = CliRunner().invoke(app, ["migrate", "--db", url])
    assert result.exit_code == 0, result.output
    assert "schema is up to date" in result.output


def test_a_library_apps_tenant_moves_without_the_bundled_apps_tables(tmp_path: Path) -> None:
    """A move provisioned meterbook's tables and revision in an app's tenant database, and
    ``migrate --placements`` then failed on it."""
    url = _app_database(tmp_path / "app.db")
    db = Database(url)
    with db.session() as session:
        accounts.register(
            session, FAST_PASSWORDS, email="ann@example.com",
            password="correct horse battery", tenant_name="Ann Co", verified=True,
        )  # fmt: skip
    db.dispose()
    toml = write_placements(tmp_path / "p.toml", {"files": sqlite_server(tmp_path / "tenants")})
    runner = CliRunner()
    moved = runner.invoke(
        app,
        ["tenants", "move", "ann-co", "--to", "dedicated", "--db", url, "--placements", str(toml)],
    )
    assert moved.exit_code == 0, moved.output
    (target,) = (tmp_path / "tenants").glob("*.sqlite3")
    tables = _tables(target)
    assert "tenantry_tenants" in tables and "readings" not in tables
    again = runner.invoke(app, ["migrate", "--db", url, "--placements", str(toml)])
    assert again.exit_code == 0, again.output
    assert "1 of 1 tenant database(s) up to date" in again.output
    assert uuid.UUID(target.stem.removeprefix("tenant_"))  # named after its tenant
