"""SQLite connection set-up: WAL, a busy timeout, and transactions that never fail half way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, event

from tenantry.read_only import READ_ONLY

SQLITE_PRAGMAS: Mapping[str, str] = {
    "journal_mode": "WAL",
    "synchronous": "NORMAL",
    "foreign_keys": "ON",
    "busy_timeout": "10000",
}


def configure_sqlite(engine: Engine, pragmas: Mapping[str, str]) -> None:
    """WAL, a busy timeout, foreign keys on; writers begin ``IMMEDIATE``, readers deferred.

    pysqlite's own transaction handling is switched off so that a writing
    transaction takes the write lock up front: a read-then-write (an invite's
    use count, a meter reading checked against the previous one) can then never
    fail with "database is locked" half way, it waits its turn instead. A
    read-only transaction (:mod:`tenantry.read_only`) begins deferred and takes
    no lock at all: WAL readers never wait for writers, nor writers for them.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for name, value in pragmas.items():
            cur.execute(f"PRAGMA {name}={value}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = bool(conn.get_execution_options().get(READ_ONLY, False))
        info = conn.info  # lives with the pooled DBAPI connection
        if info.get(READ_ONLY, False) != read_only:
            # A Core write slipping past the ORM guard fails here, never half way.
            conn.exec_driver_sql(f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
            info[READ_ONLY] = read_only
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
