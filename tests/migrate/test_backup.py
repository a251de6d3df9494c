"""Backups: --apply never overwrites a file that is another database's way back."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.migrate.test_rollback import mapping_file, status
from tests.migrate.test_seed_schemas import make_electricity
from tests.migrate.test_target import tenantize


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_apply_refuses_a_backup_path_holding_another_databases_backup(
    legacy_url: str, tmp_path: Path
) -> None:
    """--apply --backup PATH silently replaced another database's backup and its manifest:
    that database could no longer be rolled back."""
    make_electricity(legacy_url, dangling=False)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    make_electricity(other, dangling=False)
    mapping = mapping_file(tmp_path)
    shared = tmp_path / "shared.bak"
    code, out = tenantize(
        "--db", other, "--map", mapping, "--apply", "--quiet", "--backup", str(shared)
    )
    assert code == 0, out
    manifest = tmp_path / "shared.bak.tenantize.json"
    kept = (_sha(shared), _sha(manifest))

    code, out = tenantize(
        "--db", legacy_url, "--map", mapping, "--apply", "--quiet", "--backup", str(shared)
    )
    assert code == 1 and "already exists (the backup of sqlite:" in out, out
    assert "refusing to overwrite it" in out and "Traceback" not in out
    assert (_sha(shared), _sha(manifest)) == kept
    assert status(legacy_url) is None  # nothing was changed

    stray = tmp_path / "notes.txt"  # any other file is no backup of this database either
    stray.write_text("mine", encoding="utf-8")
    code, out = tenantize(
        "--db", legacy_url, "--map", mapping, "--apply", "--quiet", "--backup", str(stray)
    )
    assert code == 1 and "not a tenantize backup of this database" in out
    assert stray.read_text(encoding="utf-8") == "mine" and status(legacy_url) is None

    code, out = tenantize("--db", other, "--rollback")  # the other database's way back works
    assert code == 0 and "restored" in out, out
    code, out = tenantize(
        "--db", legacy_url, "--map", mapping, "--apply", "--quiet",
        "--backup", str(tmp_path / "mine.bak"),
    )  # fmt: skip
    assert code == 0 and "verified" in out, out
