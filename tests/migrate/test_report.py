"""--report: a path that cannot be written is refused before any change; every mode
that was given one writes it (or says why not), never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tenantry.migrate import TenantizeError
from tenantry.migrate.report import write_json
from tests.migrate.test_rollback import status
from tests.migrate.test_sqlite_limits import legacy, mapping, tenantize


@pytest.mark.parametrize("where", ["missing folder", "a directory"])
def test_an_unwritable_report_path_is_refused_before_any_change(where: str, tmp_path: Path) -> None:
    """It ended in a FileNotFoundError / IsADirectoryError traceback, after --apply had
    converted the database (exit 1: a finished conversion looked failed)."""
    url = legacy(tmp_path)
    toml = mapping(tmp_path, "")
    report = tmp_path / "nowhere" / "r.json" if where == "missing folder" else tmp_path
    backup = tmp_path / "b.bak"
    for mode in ("--dry-run", "--apply"):
        code, out = tenantize(
            "--db", url, "--map", toml, mode, "--quiet", "--backup", str(backup),
            "--report", str(report),
        )  # fmt: skip
        assert code == 1 and str(report) in out.replace(" ", "") and "nothing was changed" in out
        assert "Traceback" not in out
    assert status(url) is None and not backup.exists()


def test_a_report_that_cannot_be_written_is_a_readable_error(tmp_path: Path) -> None:
    with pytest.raises(TenantizeError, match="the report could not be written to"):
        write_json(tmp_path / "gone" / "r.json", {"status": "done"})


def test_a_converted_database_still_gets_its_report(tmp_path: Path) -> None:
    """The dry run and --apply of a converted database exited 0 and wrote nothing."""
    url = legacy(tmp_path)
    toml = mapping(tmp_path, "")
    code, out = tenantize("--db", url, "--map", toml, "--apply", "--quiet")
    assert code == 0 and "verified" in out, out
    for mode in ("--dry-run", "--apply"):
        report = tmp_path / f"{mode[2:]}.json"
        code, out = tenantize("--db", url, "--map", toml, mode, "--quiet", "--report", str(report))
        assert code == 0 and str(report) in out.replace(" ", ""), out  # wrapped at 80
        written = json.loads(report.read_text())
        assert written["status"] == "done" and written["plan"]["order"] == ["notes"]
    assert "already converted: nothing to do" in out
