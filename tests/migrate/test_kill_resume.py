"""SIGKILL the CLI at every checkpoint, then re-run it: it must finish and verify."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tenantry.migrate import conversion_engine, state
from tenantry.migrate.samples import example_mapping
from tests.migrate.test_apply import fingerprint
from tests.migrate.test_sqlite_limits import legacy, mapping
from tests.migrate.test_sqlite_limits import tenantize as cli

CHECKPOINTS = 17  # electricity: backup, snapshot, schema, accounts, 2 tables x 5, finish


def tenantize(url: str, tmp_path: Path, kill_at: int | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TENANTRY_TENANTIZE_KILL_AT"}
    if kill_at is not None:
        env["TENANTRY_TENANTIZE_KILL_AT"] = str(kill_at)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tenantry.cli.main",
            "tenantize",
            "--db",
            url,
            "--map",
            str(example_mapping("electricity")),
            "--apply",
            "--quiet",
            "--backup",
            str(tmp_path / "backup.sqlite"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("kill_at", range(1, CHECKPOINTS + 1))
def test_killed_run_resumes(
    kill_at: int, sqlite_sample: Callable[..., str], tmp_path: Path
) -> None:
    url = sqlite_sample("electricity")
    engine = conversion_engine(url)
    before = fingerprint(engine)
    engine.dispose()
    killed = tenantize(url, tmp_path, kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    engine = conversion_engine(url)
    with engine.connect() as conn:
        status = state.run_status(conn)
    if status is None:  # killed before the first change: untouched
        assert fingerprint(engine) == before
    engine.dispose()
    resumed = tenantize(url, tmp_path, None)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "verified" in resumed.stdout
    again = tenantize(url, tmp_path, None)
    assert again.returncode == 0 and "verified" not in again.stdout  # a no-op


def test_rows_written_while_interrupted_make_a_stuck_run_that_says_the_way_out(
    tmp_path: Path,
) -> None:
    """--apply failed for ever with 'rows before, copied', and the dry run promised that
    --apply would finish the run."""
    url = legacy(tmp_path)
    toml = mapping(tmp_path, "")
    command = [sys.executable, "-m", "tenantry.cli.main", "tenantize", "--db", url]
    command += ["--map", toml, "--apply", "--quiet", "--backup", str(tmp_path / "b.sqlite")]
    env = {**os.environ, "TENANTRY_TENANTIZE_KILL_AT": "7"}  # notes__tenantize created
    killed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert killed.returncode == -signal.SIGKILL and "notes__tenantize" in killed.stderr
    con = sqlite3.connect(tmp_path / "r.db")
    con.execute("INSERT INTO notes VALUES (3, 1, 'written while interrupted')")
    con.commit()
    con.close()

    code, out = cli("--db", url, "--map", toml, "--dry-run")
    assert code == 1 and "--apply finishes" not in out and "--apply resumes" not in out
    assert "converting, stuck: rows were written during the conversion (notes: 2 rows " in out
    assert "Stop whatever writes to the database, then --rollback --yes restores" in out
    for _ in range(2):  # each --apply says the same, before any further change
        code, out = cli("--db", url, "--map", toml, "--apply", "--quiet")
        assert code == 1 and "(notes: 2 rows when the conversion began, 3 now)" in out, out
        assert "written during the conversion" in out
        assert "Stop whatever writes to the database, then --rollback --yes restores" in out
    code, out = cli("--db", url, "--map", toml)
    assert code == 1 and "converting, stuck: rows were written during the conversion" in out
    code, out = cli("--db", url, "--rollback", "--yes")  # the rows written meanwhile go
    assert code == 0 and "restored" in out, out
    code, out = cli("--db", url, "--map", toml, "--apply", "--quiet")
    assert code == 0 and "verified" in out, out


def test_an_interrupted_run_says_apply_resumes_it(tmp_path: Path) -> None:
    url = legacy(tmp_path)
    toml = mapping(tmp_path, "")
    command = [sys.executable, "-m", "tenantry.cli.main", "tenantize", "--db", url]
    command += ["--map", toml, "--apply", "--quiet", "--backup", str(tmp_path / "b.sqlite")]
    env = {**os.environ, "TENANTRY_TENANTIZE_KILL_AT": "7"}
    subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    code, out = cli("--db", url, "--map", toml)
    assert code == 0 and "converting (interrupted: --apply resumes it)" in out, out


def test_ctrl_c_during_apply_says_how_to_go_on(
    sqlite_sample: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It exited 130 with no word of the half-converted database."""
    url = sqlite_sample("electricity")
    monkeypatch.setenv("TENANTRY_TENANTIZE_SIGNAL", "INT")
    stopped = tenantize(url, tmp_path, 8)  # a SIGINT, as Ctrl-C sends, mid-copy
    assert stopped.returncode == 130, stopped.stderr
    assert "interrupted: the conversion stopped part-way; run --apply again" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    monkeypatch.delenv("TENANTRY_TENANTIZE_SIGNAL")
    resumed = tenantize(url, tmp_path, None)
    assert resumed.returncode == 0 and "verified" in resumed.stdout, resumed.stdout
