"""Backups before any change, and rollback to them.

SQLite: an online copy through SQLite's backup API (consistent even while the
app reads). PostgreSQL: a ``pg_dump`` custom-format archive of the database;
rollback drops the schema's tables and replays the archive (``pg_restore --clean``)
in one transaction.

Every backup has a manifest beside it (``<backup>.tenantize.json``): its SHA-256,
the identity of the database it was taken from and (SQLite) that database's
journal mode. Rollback restores a backup only if both still match: a file that
merely has the recorded name, or the backup of another database, is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url

from tenantry.migrate.errors import TenantizeError

PG_BIN_ENV = "TENANTRY_PG_BIN"


def default_backup_path(url: str) -> Path:
    """``<db>.tenantize-backup-<UTC time>.sqlite`` beside a SQLite file, ``./….pgdump`` else."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return Path(f"{sqlite_path(parsed)}.tenantize-backup-{stamp}.sqlite")
    return Path(f"{parsed.database}.tenantize-backup-{stamp}.pgdump")


def sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise TenantizeError("tenantize needs a SQLite file, not an in-memory database")
    return Path(url.database)


MANIFEST_SUFFIX = ".tenantize.json"


def manifest_path(backup_path: Path) -> Path:
    return backup_path.with_name(backup_path.name + MANIFEST_SUFFIX)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def sqlite_journal_mode(path: Path) -> str | None:
    """The journal mode of an existing SQLite file, read without changing anything."""
    if not path.is_file():
        return None
    con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        return str(con.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    finally:
        con.close()


def database_identity(engine: Engine) -> str:
    """What names this database: its absolute path (SQLite), or its server, name and oid."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return f"sqlite:{sqlite_path(url).resolve()}"
    with engine.connect() as conn:
        oid = conn.exec_driver_sql(
            "SELECT oid FROM pg_database WHERE datname = current_database()"
        ).scalar()
        conn.rollback()
    where = url.set(password=None, username=None, drivername="postgresql")
    return f"{where.render_as_string(hide_password=True)} (oid {oid})"


def write_manifest(engine: Engine, target: Path, journal_mode: str | None) -> dict[str, Any]:
    """Record what the backup at ``target`` is; returns the record (kept with the run too)."""
    record = {
        "backup": str(target.resolve()),
        "sha256": file_sha256(target),
        "source": database_identity(engine),
        "journal_mode": journal_mode,
        "taken_at": datetime.now(UTC).isoformat(),
    }
    manifest_path(target).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def _read_manifest(found: Path) -> dict[str, Any] | None:
    """The manifest at ``found``, or ``None`` if there is none (or it is not one)."""
    if not found.is_file():
        return None
    try:
        manifest = json.loads(found.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return None
    return manifest if isinstance(manifest, dict) else None


def refuse_overwrite(engine: Engine, target: Path) -> None:
    """Refuse a backup path that already holds a file (or a manifest): it may be another
    database's backup, its only way back. The one exception is a backup of this very
    database (its manifest says so) left by an --apply killed before it recorded the run:
    nothing depends on it yet, and the run that starts again takes it again.

    Raises:
        TenantizeError: ``target`` or its manifest exists and is not this database's.
    """
    manifest = manifest_path(target)
    if not (target.exists() or manifest.exists()):
        return
    found = _read_manifest(manifest)
    source = found.get("source") if found else None
    if source is not None and source == database_identity(engine) and target.is_file():
        return
    what = (
        f"the backup of {source}, which its --rollback needs"
        if source
        else "a file that is not a tenantize backup of this database"
    )
    raise TenantizeError(
        f"--backup {target} already exists ({what}); refusing to overwrite it: name a new "
        "path with --backup (or move that file away); nothing was changed"
    )


def check_backup(engine: Engine, source: Path, recorded: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest of ``source`` if it is a backup of this very database, else an error.

    ``recorded`` is what the conversion kept in the database (``None`` once it is gone).

    Raises:
        TenantizeError: no such file, no record of it, another file, another database.
    """
    source = source.resolve()
    if not source.is_file():
        raise TenantizeError(f"no backup at {source}")
    found = manifest_path(source)
    manifest = _read_manifest(found)
    expected = recorded if recorded and recorded.get("sha256") else manifest
    if expected is None:
        raise TenantizeError(
            f"{source} has no tenantize manifest ({found.name}) and this database records no "
            "backup: nothing says it is a backup of this database; refusing to restore it"
        )
    if file_sha256(source) != expected.get("sha256"):
        raise TenantizeError(
            f"{source} is not the backup tenantize took of this database (its checksum "
            f"differs from the one recorded for {expected.get('backup')}); refusing to restore it"
        )
    here = database_identity(engine)
    if expected.get("source") != here:
        raise TenantizeError(
            f"{source} is a backup of {expected.get('source')}, not of {here}; refusing to "
            "restore it"
        )
    return dict(expected)


def backup(engine: Engine, target: Path) -> str:
    """Copy the whole database to ``target``; returns a sentence saying what was made."""
    url = engine.url
    target.parent.mkdir(parents=True, exist_ok=True)
    if url.get_backend_name() == "sqlite":
        source = sqlite_path(url)
        if not source.exists():
            raise TenantizeError(f"no SQLite database at {source}")
        partial = target.with_name(target.name + ".partial")
        with sqlite3.connect(source) as src, sqlite3.connect(partial) as dst:
            src.backup(dst)
        src.close()
        dst.close()
        os.replace(partial, target)  # a half-written backup never carries the final name
        return f"SQLite online backup (backup API) at {target}"
    partial = target.with_name(target.name + ".partial")
    _pg_tool("pg_dump", ["--format=custom", "--no-owner", f"--file={partial}", _conninfo(url)], url)
    os.replace(partial, target)
    return f"PostgreSQL pg_dump custom-format archive at {target}"


def restore(engine: Engine, source: Path, *, journal_mode: str | None = None) -> str:
    """Put the database back as it was in ``source``; returns what was done.

    ``journal_mode`` (SQLite): the mode the database had before the conversion, set
    again after the copy. Check the backup first (:func:`check_backup`).
    """
    if not source.exists():
        raise TenantizeError(f"no backup at {source}")
    url = engine.url
    engine.dispose()
    if url.get_backend_name() == "sqlite":
        return _restore_sqlite(source, sqlite_path(url), journal_mode)
    _restore_postgres(url, source)
    return f"restored the database from the pg_dump archive {source}"


# The converted tables carry constraints and references the archive does not know: drop
# every table of the schema (the archive holds every one it had), then replay it.
_DROP_TABLES = """
DO $$
DECLARE name text;
BEGIN
    FOR name IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', name);
    END LOOP;
END $$;
"""

# A TOC line of ``pg_restore --list`` for an extension or its comment: ``2; 3079 16385
# EXTENSION - pgcrypto``, ``4290; 0 0 COMMENT - EXTENSION pgcrypto``.
_EXTENSION_ENTRY = re.compile(r"^\d+; \d+ \d+ (EXTENSION|COMMENT - EXTENSION) ")


def _restore_postgres(url: URL, source: Path) -> None:
    """Drop the tables and replay the archive in one transaction (through ``psql``): a
    restore that fails changes nothing, and the rollback can be run again.

    Extensions are left as they are: tenantize never touches them, and one a superuser
    created (pgcrypto, say) cannot be dropped by the owner role that ``--clean`` runs as.
    """
    with tempfile.TemporaryDirectory(prefix="tenantry-restore-") as folder:
        work = Path(folder)
        toc = _pg_tool("pg_restore", ["--list", str(source)], url)
        kept = [line for line in toc.splitlines() if not _EXTENSION_ENTRY.match(line)]
        (work / "toc").write_text("\n".join(kept) + "\n", encoding="utf-8")
        (work / "drop.sql").write_text(_DROP_TABLES, encoding="utf-8")
        script = work / "restore.sql"
        _pg_tool(
            "pg_restore",
            [
                *("--clean", "--if-exists", "--no-owner"),
                *(f"--use-list={work / 'toc'}", f"--file={script}", str(source)),
            ],
            url,
        )
        try:
            _pg_tool(
                "psql",
                [
                    *("--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction"),
                    *(f"--file={work / 'drop.sql'}", f"--file={script}"),
                    f"--dbname={_conninfo(url)}",
                ],
                url,
            )
        except TenantizeError as exc:
            raise TenantizeError(
                f"{exc.message}; nothing was changed (the restore is one transaction). An "
                "object the archive holds that this role does not own cannot be replaced: "
                "run the rollback as its owner, or restore by hand with pg_restore"
            ) from None


def _restore_sqlite(source: Path, target: Path, journal_mode: str | None) -> str:
    """Copy ``source`` over ``target`` only if nothing else holds ``target`` open: the
    rollback either completes or changes nothing (never a half-way journal mode)."""
    dst = sqlite3.connect(target, timeout=LOCK_WAIT, isolation_level=None)
    try:
        before = _sole_access(dst, target)
        try:
            with sqlite3.connect(source) as src:
                src.backup(dst)  # one transaction on the destination: all or nothing
            src.close()
        except sqlite3.Error as exc:
            _set_journal_mode(dst, before)
            raise TenantizeError(
                f"{target} was not restored ({exc}); nothing was changed"
            ) from None
        wanted = journal_mode if journal_mode and journal_mode.isalpha() else before
        if _set_journal_mode(dst, wanted) != wanted:
            raise TenantizeError(
                f"restored {target} from {source}, but its journal mode could not be set back "
                f"to {wanted} (another connection opened it): set it with "
                f"sqlite3 {target} 'PRAGMA journal_mode={wanted}'"
            )
    finally:
        dst.close()
    return f"restored {target} from {source}"


LOCK_WAIT = 2.0  # seconds to wait for another connection to let go of the database


def _sole_access(dst: sqlite3.Connection, target: Path) -> str:
    """Check that no other connection holds ``target``; returns its journal mode.

    In WAL mode every open connection shares the database, and leaving WAL (which the
    copy needs: it writes the backup's pages whole) takes an exclusive lock; otherwise an
    exclusive transaction shows whether anyone is reading or writing.

    Raises:
        TenantizeError: another connection holds the database; nothing was changed.
    """
    before = str(dst.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    try:
        if before == "wal" and _set_journal_mode(dst, "delete") != "delete":
            raise sqlite3.OperationalError("it is open in WAL mode elsewhere")
        dst.execute("BEGIN EXCLUSIVE")
        dst.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        _set_journal_mode(dst, before)
        raise TenantizeError(
            f"another connection is using {target} ({exc}): stop the app and anything else "
            "that has it open (a sqlite3 shell, a reader), then run --rollback again; "
            "nothing was changed"
        ) from None
    return before


def _set_journal_mode(con: sqlite3.Connection, mode: str) -> str:
    """Set the journal mode; returns the mode in force after (the old one if refused)."""
    try:
        return str(con.execute(f"PRAGMA journal_mode={mode}").fetchone()[0]).lower()
    except sqlite3.OperationalError:
        return str(con.execute("PRAGMA journal_mode").fetchone()[0]).lower()


def _conninfo(url: URL) -> str:
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False)


def _pg_tool(tool: str, args: list[str], url: URL) -> str:
    """Run a PostgreSQL client tool; returns its output. A failure says the tool's errors,
    not the notices and details a ``--clean`` replay prints by the dozen."""
    path = _find(tool)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    done = subprocess.run([path, *args], env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        said = [_PSQL_WHERE.sub("", line) for line in done.stderr.splitlines()]
        errors = [line for line in said if "ERROR:" in line] or said
        raise TenantizeError(f"{tool} failed: {' '.join(errors).strip()}")
    return done.stdout


_PSQL_WHERE = re.compile(r"^psql:[^:]*:\d+: ")  # a temporary script's name and line


def _find(tool: str) -> str:
    for folder in (os.environ.get(PG_BIN_ENV), "/usr/lib/postgresql/15/bin"):
        if folder and (Path(folder) / tool).exists():
            return str(Path(folder) / tool)
    found = shutil.which(tool)
    if found is None:
        raise TenantizeError(f"{tool} not found; put it on PATH or set {PG_BIN_ENV}")
    return found
