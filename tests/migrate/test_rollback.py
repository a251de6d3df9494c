"""Rollback restores only this database's own backup, from any directory; --init and the
dry run only read, and the journal mode the database had is the one it keeps."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from tenantry.migrate import conversion_engine, state
from tests.migrate import seeds
from tests.migrate.test_apply import fingerprint
from tests.migrate.test_seed_schemas import make_electricity
from tests.migrate.test_sqlite_limits import legacy, mapping
from tests.migrate.test_sqlite_limits import tenantize as cli
from tests.migrate.test_target import tenantize


def mapping_file(directory: Path) -> str:
    path = directory / "electricity.toml"
    path.write_text(seeds.electricity_mapping(), encoding="utf-8")
    return str(path)


def status(url: str) -> str | None:
    engine = conversion_engine(url)
    with engine.connect() as conn:
        found = state.run_status(conn)
    engine.dispose()
    return found


def test_rollback_from_elsewhere_ignores_a_file_of_the_same_name(
    legacy_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_electricity(legacy_url, dangling=False)
    engine = conversion_engine(legacy_url)
    before = fingerprint(engine)
    engine.dispose()
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    mapping = mapping_file(tmp_path)
    monkeypatch.chdir(here)
    code, out = tenantize(
        "--db", legacy_url, "--map", mapping, "--apply", "--quiet", "--backup", "before.bak"
    )
    assert code == 0, out
    assert (here / "before.bak.tenantize.json").is_file()  # the backup's manifest
    monkeypatch.chdir(elsewhere)
    impostor = elsewhere / "before.bak"
    con = sqlite3.connect(impostor)  # an unrelated database that happens to share the name
    con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    con.close()

    code, out = tenantize("--db", legacy_url, "--rollback", "--backup", "before.bak")
    assert code == 1 and "refusing to restore" in out, out
    assert status(legacy_url) == "done"  # nothing was touched

    code, out = tenantize("--db", legacy_url, "--rollback")  # the recorded, absolute path
    assert code == 0, out
    assert str(here / "before.bak") in out.replace("\n", "")
    engine = conversion_engine(legacy_url)
    assert fingerprint(engine) == before
    engine.dispose()
    assert status(legacy_url) is None


def test_the_backup_of_another_database_is_refused(legacy_url: str, tmp_path: Path) -> None:
    make_electricity(legacy_url, dangling=False)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    make_electricity(other, dangling=False)
    mapping = mapping_file(tmp_path)
    for url, name in ((legacy_url, "mine.bak"), (other, "other.bak")):
        code, out = tenantize(
            "--db", url, "--map", mapping, "--apply", "--quiet", "--backup", str(tmp_path / name)
        )
        assert code == 0, out
    code, out = tenantize("--db", legacy_url, "--rollback", "--backup", str(tmp_path / "other.bak"))
    assert code == 1 and "refusing to restore" in out, out
    assert status(legacy_url) == "done"
    # Once restored, the database no longer records a backup: the manifest still decides.
    code, out = tenantize("--db", legacy_url, "--rollback")
    assert code == 0, out
    (tmp_path / "mine.bak").write_bytes((tmp_path / "mine.bak").read_bytes() + b"tampered")
    code, out = tenantize("--db", legacy_url, "--rollback", "--backup", str(tmp_path / "mine.bak"))
    assert code == 1 and "checksum differs" in out, out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _journal(path: Path) -> str:
    con = sqlite3.connect(path)
    mode = str(con.execute("PRAGMA journal_mode").fetchone()[0])
    con.close()
    return mode


def test_init_and_dry_run_only_read_and_the_journal_mode_is_kept(tmp_path: Path) -> None:
    db = tmp_path / "legacy.db"
    url = f"sqlite:///{db}"
    make_electricity(url, dangling=False)
    assert _journal(db) == "delete"
    digest = _sha(db)
    code, out = tenantize("--db", url, "--init", "--map", str(tmp_path / "draft.toml"))
    assert code == 0, out
    code, out = tenantize("--db", url, "--map", mapping_file(tmp_path))
    assert code == 0, out
    assert _sha(db) == digest and _journal(db) == "delete"
    assert not Path(f"{db}-wal").exists()
    code, out = tenantize("--db", str(url).replace("legacy", "missing"), "--init")
    assert code == 1 and "no SQLite database" in out
    assert not (tmp_path / "missing.db").exists()  # never created by a read

    code, out = tenantize(
        "--db", url, "--map", mapping_file(tmp_path), "--apply", "--quiet",
        "--backup", str(tmp_path / "b.bak"),
    )  # fmt: skip
    assert code == 0, out
    assert _journal(db) == "delete"  # the conversion did not switch it either
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")  # as tenantry's server does once it runs
    con.close()
    code, out = tenantize("--db", url, "--rollback")
    assert code == 0, out
    assert _journal(db) == "delete"


@pytest.mark.postgres
def test_init_and_dry_run_only_read_on_postgres(pg_url: str, tmp_path: Path) -> None:
    make_electricity(pg_url, dangling=False)
    engine = conversion_engine(pg_url)
    before = fingerprint(engine)
    engine.dispose()
    code, out = tenantize("--db", pg_url, "--init", "--map", str(tmp_path / "draft.toml"))
    assert code == 0, out
    code, out = tenantize("--db", pg_url, "--map", mapping_file(tmp_path))
    assert code == 0, out
    engine = conversion_engine(pg_url)
    assert fingerprint(engine) == before  # every legacy table as it was
    engine.dispose()


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_rollback_changes_nothing_while_another_connection_holds_the_database(
    journal: str, tmp_path: Path
) -> None:
    """It crashed with a traceback on ``PRAGMA journal_mode`` after restoring the data
    (leaving WAL on), or, in rollback-journal mode, waited for the reader for ever."""
    db = tmp_path / "legacy.db"
    url = f"sqlite:///{db}"
    make_electricity(url, dangling=False)
    code, out = tenantize(
        "--db", url, "--map", mapping_file(tmp_path), "--apply", "--quiet",
        "--backup", str(tmp_path / "b.bak"),
    )  # fmt: skip
    assert code == 0, out
    con = sqlite3.connect(db)
    con.execute(f"PRAGMA journal_mode={journal}")
    con.close()
    reader = sqlite3.connect(db, isolation_level=None)
    if journal == "delete":
        reader.execute("BEGIN")  # a read transaction holds its lock until it ends
    reader.execute("SELECT count(*) FROM readings").fetchall()
    code, out = tenantize("--db", url, "--rollback")
    assert code == 1, out
    assert "another connection is using" in out and "nothing was changed" in out
    assert status(url) == "done" and _journal(db) == journal
    reader.close()
    code, out = tenantize("--db", url, "--rollback")
    assert code == 0 and "restored" in out, out
    assert status(url) is None and _journal(db) == "delete"


def test_rollback_says_that_what_was_written_since_is_discarded(tmp_path: Path) -> None:
    """It discarded the rows written after the conversion without a word, then with a word
    and no question: the row counts that changed stop it now, until --yes."""
    url = legacy(tmp_path)
    toml = mapping(tmp_path, "")
    code, out = cli("--db", url, "--map", toml, "--apply", "--quiet")
    assert code == 0, out
    con = sqlite3.connect(tmp_path / "r.db")
    con.execute(
        "INSERT INTO notes (tenant_id, id, user_id, body) SELECT tenant_id, 3, 1, 'new' "
        "FROM notes WHERE id = 1"
    )
    con.commit()
    con.close()
    code, out = cli("--db", url, "--rollback")  # a stranger's CRM lost its writes so
    assert code == 1 and "notes: 2 rows when the conversion began, 3 now" in out, out
    assert "then run it again with --yes" in out and "restored" not in out
    con = sqlite3.connect(tmp_path / "r.db")
    assert con.execute("SELECT count(*) FROM notes").fetchone() == (3,)  # nothing discarded
    con.close()
    code, out = cli("--db", url, "--rollback", "--yes")
    assert code == 0, out
    assert "everything written to it since is discarded" in out
    assert "notes: 2 rows when the conversion began, 3 now" in out
