"""``tenantry migrate`` with placements: every tenant database, failures reported, resumable."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from tenantry.cli.main import app as cli
from tenantry.db import Database
from tenantry.migrations.runner import upgrade
from tenantry.models import Tenant
from tenantry.placement import Location, PlacementConfigError, Placements, load_config
from tests.support.placement import sqlite_server, write_placements


def _control(tmp_path: Path) -> tuple[str, Path]:
    url = f"sqlite:///{tmp_path / 'control.sqlite3'}"
    result = CliRunner().invoke(cli, ["migrate", "--db", url])
    assert result.exit_code == 0, result.output
    toml = write_placements(tmp_path / "p.toml", {"files": sqlite_server(tmp_path / "tenants")})
    return url, toml


def _tenants(url: str, toml: Path, count: int) -> list[Location]:
    db = Database(url)
    placements = Placements(load_config(toml), db)
    out = []
    try:
        for i in range(count):
            tenant_id = uuid.uuid4()
            with db.session() as session:
                session.add(Tenant(id=tenant_id, slug=f"t{i}", name=f"T{i}"))
            out.append(placements.place(tenant_id, kind="dedicated"))
    finally:
        db.dispose()
    return out


def _revision(path: Path) -> set[str]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return {str(r) for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
    finally:
        engine.dispose()


def _break(path: Path) -> None:
    """Step the database back before 0007 (and what came after) with a table in the way of
    0007: its upgrade fails."""
    down = _down_revision()
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE tenantry_placements"))
        conn.execute(text("DROP TABLE tenantry_placement_moves"))  # 0008, after 0007
        # 0009, after 0008: the upgrade from 0006 adds it again.
        conn.execute(text("ALTER TABLE tenantry_billing_accounts DROP COLUMN superseded"))
        conn.execute(text("CREATE TABLE tenantry_placements (x INTEGER)"))
        conn.execute(text("DELETE FROM alembic_version"))
        conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": down})
    engine.dispose()


def _down_revision() -> str:
    import importlib

    module = importlib.import_module("tenantry.migrations.versions.0007_placement")
    return str(module.down_revision)


def test_migrate_upgrades_every_tenant_database_and_reports_a_failure(tmp_path: Path) -> None:
    url, toml = _control(tmp_path)
    locations = _tenants(url, toml, 3)
    files = [tmp_path / "tenants" / f"{loc.database}.sqlite3" for loc in locations]
    head = _revision(files[0])
    for path in files:
        _break(path)
    broken = _revision(files[0])
    assert "0007_placement" not in broken
    # One stays broken; the other two are repaired by the run.
    engine = create_engine(f"sqlite:///{files[1]}")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE tenantry_placements"))
    engine.dispose()
    engine = create_engine(f"sqlite:///{files[2]}")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE tenantry_placements"))
    engine.dispose()

    result = CliRunner().invoke(
        cli, ["migrate", "--db", url, "--placements", str(toml), "--jobs", "2"]
    )
    assert result.exit_code == 1, result.output
    assert f"FAILED dedicated files/{locations[0].database}" in result.output
    assert "2 of 3 tenant database(s) up to date, 1 failed" in result.output
    # The failed database kept its revision and its tables (one transaction, rolled back).
    assert _revision(files[0]) == broken
    assert _revision(files[1]) == head
    assert _revision(files[2]) == head

    # Fixed, and run again: only the failed one had anything to do.
    engine = create_engine(f"sqlite:///{files[0]}")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE tenantry_placements"))
    engine.dispose()
    again = CliRunner().invoke(cli, ["migrate", "--db", url, "--placements", str(toml)])
    assert again.exit_code == 0, again.output
    assert "3 of 3 tenant database(s) up to date" in again.output
    assert _revision(files[0]) == head


def test_a_bad_placements_file_is_a_clear_error(tmp_path: Path) -> None:
    url, _toml = _control(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text('default = "dedicated"\n')
    result = CliRunner().invoke(cli, ["migrate", "--db", url, "--placements", str(bad)])
    assert result.exit_code == 1
    assert "add a server" in result.output
    assert "Traceback" not in result.output


def test_an_app_directory_among_the_version_directories_is_refused_at_once(
    tmp_path: Path,
) -> None:
    """`tenantry migrations init`'s directory is an app directory: as a version directory
    every new tenant's placement failed later, inside Alembic (RecursionError)."""
    url, toml = _control(tmp_path)
    app_dir = tmp_path / "migrations"
    (app_dir / "versions").mkdir(parents=True)
    (app_dir / "env.py").write_text("# written by tenantry migrations init\n")
    with pytest.raises(PlacementConfigError, match="as the app directory"):
        Placements(load_config(toml), Database(url), version_dirs=[app_dir])
    with pytest.raises(ValueError, match="app's migrations directory"):
        upgrade(create_engine(url), [app_dir])
    placements = Placements(load_config(toml), Database(url), app_dir=app_dir)
    assert placements.app_dir == app_dir


def test_doctor_checks_every_placement(tmp_path: Path) -> None:
    url, toml = _control(tmp_path)
    first, second = _tenants(url, toml, 2)
    healthy = CliRunner().invoke(cli, ["doctor", "--db", url, "--placements", str(toml)])
    assert "placements: 2 recorded, 0 with problems" in healthy.output, healthy.output
    assert healthy.exit_code == 0, healthy.output

    # A stranger's row in one tenant database, and the other left mid-move.
    engine = create_engine(f"sqlite:///{tmp_path / 'tenants' / f'{first.database}.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tenantry_tenants (id, slug, name, kind, plan, status, settings, "
                "created_at, updated_at) VALUES (:id, 'x', 'X', 'personal', 'free', 'active', "
                "'{}', '2026-01-01', '2026-01-01')"
            ),
            {"id": uuid.uuid4().hex},
        )
    engine.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE tenantry_placements SET state = 'moving' WHERE database = :d"),
            {"d": second.database},
        )
    engine.dispose()
    sick = CliRunner().invoke(cli, ["doctor", "--db", url, "--placements", str(toml)])
    assert sick.exit_code == 1
    assert "placements: 2 recorded, 2 with problems" in sick.output
    assert "tenantry_tenants holds 2 row(s), not its own only" in sick.output
    assert "a move was interrupted" in sick.output
