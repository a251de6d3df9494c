"""``tenantry doctor`` on bad input: the fault first, before any check is printed."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tenantry.cli.main import app
from tests.support.databases import TestDatabase


def test_a_missing_placements_file_fails_before_the_schema_check(
    database: TestDatabase, tmp_path: Path
) -> None:
    """It ran the whole schema check and printed "ok: no problems" first."""
    missing = tmp_path / "nonexistent.toml"
    result = CliRunner().invoke(
        app, ["doctor", "--db", database.owner_url, "--placements", str(missing)]
    )
    assert result.exit_code == 2, result.output
    assert "no problems" not in result.output
    assert result.output.strip().splitlines() == [
        f"tenantry doctor: cannot read {missing}: No such file or directory"
    ], result.output
