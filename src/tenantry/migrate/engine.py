"""The engine tenantize converts through: plain transactions, foreign keys off on SQLite."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from tenantry.db import make_engine
from tenantry.migrate.backup import sqlite_journal_mode
from tenantry.migrate.errors import TenantizeError


def conversion_engine(url: str) -> Engine:
    """An engine for ``url`` fit for schema surgery.

    On SQLite, foreign-key enforcement is off (the 12-step ALTER procedure
    requires it while tables are swapped), ``legacy_alter_table`` keeps a rename
    from rewriting other tables' references, the journal mode stays the one the
    database has (tenantry's engines would switch it to WAL for good) and every
    transaction starts with ``BEGIN IMMEDIATE``.
    """
    try:
        parsed = make_url(url)
    except Exception:
        raise TenantizeError(f"not a database URL: {url!r}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend not in ("sqlite", "postgresql"):
        raise TenantizeError(f"tenantize converts SQLite and PostgreSQL databases, not {backend}")
    journal = (
        sqlite_journal_mode(Path(parsed.database))
        if backend == "sqlite" and parsed.database
        else None
    )
    return make_engine(
        parsed.render_as_string(hide_password=False),
        sqlite_pragmas={
            "journal_mode": journal or "DELETE",
            "foreign_keys": "OFF",
            "legacy_alter_table": "ON",
            # The rebuilt tables' (tenant_id, id) keys arrive in random order: a bigger
            # page cache speeds the copy, but it is the process's peak memory. 16 MiB
            # keeps a 1M-row apply under 150 MiB in all (bench/tenantize.py measures it).
            "cache_size": "-16384",
        },
    )


def existing_engine(url: str) -> Engine:
    """:func:`conversion_engine` for a database that must already exist (--apply,
    --verify, --rollback): SQLite would create a mistyped path as an empty database on
    the first connection, which --apply then backed up before failing on it.

    Raises:
        TenantizeError: no SQLite file at the URL's path (nothing is created).
    """
    engine = conversion_engine(url)
    if engine.dialect.name == "sqlite" and not Path(engine.url.database or "").is_file():
        engine.dispose()
        raise TenantizeError(f"no SQLite database at {engine.url.database}")
    return engine


def reading_engine(url: str) -> Engine:
    """An engine that cannot change the database: ``--init`` and the dry run use it.

    SQLite opens the file read-only (a missing file is an error, not a new database);
    PostgreSQL transactions are ``READ ONLY``.
    """
    engine = existing_engine(url)
    if engine.dialect.name != "sqlite":
        return engine.execution_options(postgresql_readonly=True)
    path = Path(engine.url.database or "")
    engine.dispose()
    uri = f"{path.absolute().as_uri()}?mode=ro"
    return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))


def check_writable(engine: Engine) -> None:
    """Refuse a SQLite database this user cannot write, before the backup and the
    checksums: else --apply took both, then failed on the first write (and left one more
    backup file each time it was tried).

    Raises:
        TenantizeError: the file, or the directory SQLite keeps its journal in, is read-only.
    """
    if engine.dialect.name != "sqlite":
        return
    path = Path(engine.url.database or "")
    if path.is_file() and not os.access(path, os.W_OK):
        raise TenantizeError(
            f"{path} is read-only for this user, and tenantize converts it in place: make it "
            "writable (or run as its owner) and run --apply again; nothing was changed"
        )
    folder = path.absolute().parent
    if path.is_file() and not os.access(folder, os.W_OK | os.X_OK):
        raise TenantizeError(
            f"{folder} is read-only for this user, and SQLite writes its journal beside the "
            "database: make it writable and run --apply again; nothing was changed"
        )
