"""A seed-000 database converted without a target keeps its own columns: meterbook's
migration refuses to adopt its tables, and doctor reports the mismatch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tenantry.cli.main import app as cli
from tenantry.migrate import conversion_engine
from tenantry.migrations.adopt import SchemaMismatch
from tenantry_server.app import default_plugins, migrate
from tenantry_server.settings import Settings
from tests.migrate import seeds
from tests.migrate.test_seed_schemas import convert, make_electricity, mapping_of


def test_meterbook_refuses_tables_with_other_columns_and_doctor_says_so(
    legacy_url: str, tmp_path: Path
) -> None:
    make_electricity(legacy_url, dangling=False)
    engine = conversion_engine(legacy_url)
    convert(engine, mapping_of(seeds.electricity_mapping()), tmp_path / "backup")
    engine.dispose()
    settings = Settings(database_url=legacy_url, data_dir=tmp_path, secret_key="s" * 64)
    with pytest.raises(SchemaMismatch) as refused:
        migrate(settings, default_plugins())
    message = refused.value.message
    assert "'readings'" in message
    assert "missing" in message and "meter_wh" in message and "read_at" in message
    assert "not the app's: created_at" not in message  # created_at is meterbook's too
    assert "date" in message and "reading" in message

    result = CliRunner().invoke(cli, ["doctor", "--db", legacy_url, "--json"])
    assert result.exit_code == 1, result.output
    findings = json.loads(result.output)["findings"]
    mismatched = {f["table"] for f in findings if f["check"] == "schema_mismatch"}
    assert mismatched == {"readings", "vouchers"}
    voucher = next(
        f for f in findings if f["table"] == "vouchers" and f["check"] == "schema_mismatch"
    )
    assert "amount_minor" in voucher["message"] and "kwh" in voucher["message"]


def test_serve_migrate_only_says_which_columns_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    make_electricity(url, dangling=False)
    engine = conversion_engine(url)
    convert(engine, mapping_of(seeds.electricity_mapping()), tmp_path / "backup")
    engine.dispose()
    import tenantry_server.cli  # noqa: F401 - registers serve on the shared app

    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("TENANTRY_SECRET_KEY", "s" * 64)
    monkeypatch.setenv("TENANTRY_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["serve", "--migrate-only"])
    assert result.exit_code == 1
    assert "does not match the app's columns" in result.output
    assert "schema is up to date" not in result.output
    assert "Traceback" not in result.output
