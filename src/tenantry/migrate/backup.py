"""Backups before any change, and rollback to them.

SQLite: an online copy through SQLite's backup API (consistent even while the
app reads). PostgreSQL: a ``pg_dump`` custom-format archive of the database;
rollback restores it with ``pg_restore --clean`` in one transaction, then drops
the tables tenantize added.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

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
    _pg_tool("pg_dump", ["--format=custom", "--no-owner", f"--file={target}", _conninfo(url)], url)
    return f"PostgreSQL pg_dump custom-format archive at {target}"


def restore(engine: Engine, source: Path) -> str:
    """Put the database back as it was in ``source``; returns what was done."""
    if not source.exists():
        raise TenantizeError(f"no backup at {source}")
    url = engine.url
    engine.dispose()
    if url.get_backend_name() == "sqlite":
        target = sqlite_path(url)
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)  # one transaction on the destination: all or nothing
        src.close()
        dst.close()
        return f"restored {target} from {source}"
    with engine.begin() as conn:
        # The converted tables carry constraints the archive does not know; drop them all
        # (the archive holds every one of them) so pg_restore recreates them cleanly.
        names = (
            conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
            .scalars()
            .all()
        )
        for name in names:
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}" CASCADE')
    engine.dispose()
    _pg_tool(
        "pg_restore",
        [
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            f"--dbname={_conninfo(url)}",
            str(source),
        ],
        url,
    )
    return f"restored the database from the pg_dump archive {source}"


def _conninfo(url: URL) -> str:
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False)


def _pg_tool(tool: str, args: list[str], url: URL) -> None:
    path = _find(tool)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    done = subprocess.run([path, *args], env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise TenantizeError(f"{tool} failed: {done.stderr.strip()}")


def _find(tool: str) -> str:
    for folder in (os.environ.get(PG_BIN_ENV), "/usr/lib/postgresql/15/bin"):
        if folder and (Path(folder) / tool).exists():
            return str(Path(folder) / tool)
    found = shutil.which(tool)
    if found is None:
        raise TenantizeError(f"{tool} not found; put it on PATH or set {PG_BIN_ENV}")
    return found
