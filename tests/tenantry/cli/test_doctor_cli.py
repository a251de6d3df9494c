"""``tenantry doctor`` on bad input: the fault first, before any check is printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tenantry.cli.main import app
from tests.support.databases import TestDatabase, set_core_revision


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


WITHOUT_BABEL = """
import sys
sys.modules["babel"] = None  # as where only the library is installed (no server extra)
from tenantry.cli.main import app
app(["doctor", "--db", sys.argv[1]], prog_name="tenantry")
"""


def test_the_doctor_runs_without_the_servers_extra(template_db: Path, tmp_path: Path) -> None:
    """An outside tester installed ``tenantry[postgres]``: the doctor loaded the bundled
    meterbook's models, which imported babel (the server extra's), with a traceback."""
    copy = tmp_path / "db.sqlite3"
    copy.write_bytes(template_db.read_bytes())
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_BABEL, f"sqlite:///{copy}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "no problems" in done.stdout


def test_the_doctor_reports_migrations_pending_and_notes_a_revision_it_does_not_know(
    database: TestDatabase,
) -> None:
    """After an upgrade it said "ok: no problems" with a migration not applied."""
    set_core_revision(database.owner_url, "0009_billing_superseded")
    pending = CliRunner().invoke(app, ["doctor", "--db", database.owner_url])
    assert pending.exit_code == 1, pending.output
    assert (
        "migrations pending (0010_unicode_email_domains not applied): run `tenantry migrate`"
        in pending.output
    )
    set_core_revision(database.owner_url, "0099_from_the_future")
    ahead = CliRunner().invoke(app, ["doctor", "--db", database.owner_url])
    assert ahead.exit_code == 0, ahead.output
    assert "note: revision 0099_from_the_future is not one of this release's" in ahead.output
    assert "migrations pending" not in ahead.output
