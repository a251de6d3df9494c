"""SIGKILL the CLI at every checkpoint, then re-run it: it must finish and verify."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tenantry.migrate import conversion_engine, state
from tenantry.migrate.samples import example_mapping
from tests.migrate.test_apply import fingerprint

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
