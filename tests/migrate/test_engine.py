"""The converting engine: a database this user cannot write is refused before the backup."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.migrate.test_sqlite_limits import legacy, mapping, tenantize


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` unwritable for this user: its mode, or (root writes any file) immutable."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        yield
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode:
        pytest.skip("as root, a read-only file needs chattr +i (not available here)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_database_is_refused_before_the_backup(tmp_path: Path) -> None:
    """--apply took a full backup and the checksums, then failed on 'attempt to write a
    readonly database', one more backup file each time it was tried."""
    url = legacy(tmp_path)
    toml = mapping(tmp_path, "")
    before = sorted(p.name for p in tmp_path.iterdir())
    with read_only(tmp_path / "r.db"):
        for _ in range(2):
            code, out = tenantize("--db", url, "--map", toml, "--apply", "--quiet")
            assert code == 1, out
            assert "r.db is read-only for this user" in out and "nothing was changed" in out
        assert sorted(p.name for p in tmp_path.iterdir()) == before  # no backup, no journal
