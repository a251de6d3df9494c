"""SQLite connection set-up: WAL, a busy timeout, and transactions that never fail half way."""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, event
from sqlalchemy.dialects.sqlite import DATETIME
from sqlalchemy.exc import OperationalError

from tenantry.read_only import READ_ONLY

SQLITE_PRAGMAS: Mapping[str, str] = {
    "journal_mode": "WAL",
    "synchronous": "NORMAL",
    "foreign_keys": "ON",
    "busy_timeout": "10000",
}


class AwareDateTime(DATETIME):
    """SQLite's ``DateTime(timezone=True)``, kept as the instant it names.

    SQLAlchemy's SQLite type writes an aware value's wall-clock time and drops its
    offset: ``23:30-05:00`` was stored as 23:30, where PostgreSQL stores 04:30 UTC the
    next day, and read back naive. Here an aware value is written in UTC and read back
    aware in UTC, as from PostgreSQL; a naive value is taken as UTC. ``DateTime()``
    (no zone) is left as SQLAlchemy has it.
    """

    def bind_processor(self, dialect: Any) -> Callable[[Any], Any] | None:
        process = super().bind_processor(dialect)
        if not self.timezone or process is None:
            return process

        def bind(value: Any) -> Any:
            if isinstance(value, datetime) and value.tzinfo is not None:
                value = value.astimezone(UTC)
            return process(value)

        return bind

    def result_processor(self, dialect: Any, coltype: object) -> Callable[[Any], Any] | None:
        process = super().result_processor(dialect, coltype)
        if not self.timezone or process is None:
            return process

        def result(value: Any) -> Any:
            found = process(value)
            if isinstance(found, datetime) and found.tzinfo is None:
                return found.replace(tzinfo=UTC)
            return found

        return result


def configure_sqlite(
    engine: Engine, pragmas: Mapping[str, str], *, writer_turns: bool | WriterTurns = True
) -> None:
    """WAL, a busy timeout, foreign keys on; writers begin ``IMMEDIATE``, readers deferred;
    aware date-times kept in UTC (:class:`AwareDateTime`).

    pysqlite's own transaction handling is switched off so that a writing
    transaction takes the write lock up front: a read-then-write (an invite's
    use count, a meter reading checked against the previous one) can then never
    fail with "database is locked" half way, it waits its turn instead. A
    read-only transaction (:mod:`tenantry.read_only`) begins deferred and takes
    no lock at all: WAL readers never wait for writers, nor writers for them.

    ``writer_turns``: this process's writers take turns on a lock of their own
    before ``BEGIN IMMEDIATE``, released once the transaction ends. Without it,
    concurrent writers all wait in SQLite's busy handler, which sleeps with a
    growing back-off (up to 100 ms at a time): under a burst of writes most of the
    time went to sleeping, not writing. A writer meeting another process's
    transaction tries again every few milliseconds (:meth:`WriterTurns.begin`).
    (Not for async engines: the lock would block the event loop.)
    Given a :class:`WriterTurns`, the engine takes turns on that one's lock (the event
    loop's writes share the process's turns without waiting for them:
    :meth:`WriterTurns.without_waiting`).
    """
    # This engine's DateTime(timezone=True) keeps its instant (AwareDateTime).
    engine.dialect.colspecs = {**engine.dialect.colspecs, DateTime: AwareDateTime}
    if isinstance(writer_turns, WriterTurns):
        turns: WriterTurns | None = writer_turns
    else:
        turns = WriterTurns(pragmas) if writer_turns else None
    if turns is not None:
        turns.install(engine)
        _TURNS[engine] = turns

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
        if read_only or turns is None:
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
            return
        turns.take(conn.connection.dbapi_connection)
        try:
            turns.begin(conn)
        except BaseException:
            turns.give_back(conn.connection.dbapi_connection)
            raise


class WriterTurns:
    """One writing transaction at a time per engine in this process, waiting on a lock."""

    def __init__(self, pragmas: Mapping[str, str], lock: threading.Lock | None = None) -> None:
        self.lock = lock or threading.Lock()
        self.timeout = int(pragmas.get("busy_timeout", "10000")) / 1000

    def without_waiting(self) -> WriterTurns:
        """Turns on the same lock that fail at once ("database is locked") when it is taken."""
        return WriterTurns({"busy_timeout": "0"}, self.lock)

    def install(self, engine: Engine) -> None:
        """Give the turn back after the DBAPI commit, rollback or close, whoever calls it.

        Wrapped once per dialect: engines may share one (placement's siblings).
        """
        dialect: Any = engine.dialect
        if getattr(dialect, "_tenantry_turns", False):
            return
        dialect._tenantry_turns = True
        for name in ("do_commit", "do_rollback", "do_close"):
            setattr(dialect, name, _giving_back(getattr(dialect, name)))

    def take(self, dbapi_connection: Any) -> None:
        key = _raw_id(dbapi_connection)
        if key in _IN_TURN:
            return  # its turn already
        waits = self.timeout > 0
        if not self.lock.acquire(waits, self.timeout if waits else -1):
            raise sqlite3.OperationalError(
                f"database is locked: no turn to write within {self.timeout:g} s"
            )
        _IN_TURN[key] = self

    def give_back(self, dbapi_connection: Any) -> None:
        _give_back(dbapi_connection)

    def begin(self, conn: Any) -> None:
        """``BEGIN IMMEDIATE`` on ``conn``, retried every 0.2-2 ms while another process
        writes, for up to the busy timeout.

        SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 … 100 ms between tries:
        a writer of this process that met another worker's transaction slept on while
        that worker's writes, which try the lock without waiting (the event loop's,
        ``tenantry.inline_writes``), took it in every gap. With two workers posting, a
        POST's p99 went from 15 to 55 ms. Polling finely keeps the wait near the other
        transaction's length.
        """
        if self.timeout <= 0:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        deadline = time.monotonic() + self.timeout
        delay = _FIRST_RETRY
        conn.exec_driver_sql("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                    return
                except OperationalError as failure:
                    if not is_locked(failure) or time.monotonic() > deadline:
                        raise
                time.sleep(delay)
                delay = min(delay * 2, _LAST_RETRY)
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {round(self.timeout * 1000)}")


def is_locked(error: BaseException) -> bool:
    """Whether ``error`` (sqlite3's or SQLAlchemy's wrapping of it) says another writer
    holds the write lock (SQLITE_BUSY), or this process's turn was not free."""
    return "database is locked" in str(error)


# BEGIN IMMEDIATE's retries while another process holds the write lock (seconds).
_FIRST_RETRY = 0.0002
_LAST_RETRY = 0.002


def writer_turns_of(engine: Engine) -> WriterTurns | None:
    """The turns ``engine``'s writers take (:func:`configure_sqlite`), if it has them."""
    return _TURNS.get(engine)


_TURNS: weakref.WeakKeyDictionary[Engine, WriterTurns] = weakref.WeakKeyDictionary()
# DBAPI connection id -> the turns whose lock it holds (a connection is used by one thread).
_IN_TURN: dict[int, WriterTurns] = {}


def _give_back(dbapi_connection: Any) -> None:
    turns = _IN_TURN.pop(_raw_id(dbapi_connection), None)
    if turns is not None:
        turns.lock.release()


def _giving_back(method: Any) -> Any:
    def call(dbapi_connection: Any) -> None:
        try:
            method(dbapi_connection)
        finally:
            _give_back(dbapi_connection)

    return call


def _raw_id(connection: Any) -> int:
    """The DBAPI connection's identity, whether given it or the pool's wrapper of it."""
    return id(getattr(connection, "dbapi_connection", None) or connection)


def unique_constraints(connection: Connection, table: str) -> list[tuple[str, ...]]:
    """The columns of every UNIQUE constraint of an SQLite table, a column's own
    (``code TEXT UNIQUE``) too: SQLAlchemy's inspector reads only those a table lists
    apart, and leaves the indexes SQLite makes for the others out of its indexes."""
    quoted = table.replace('"', '""')
    found = []
    for row in connection.exec_driver_sql(f'PRAGMA index_list("{quoted}")'):
        if row.origin == "u":  # an index SQLite made for a UNIQUE constraint
            index = row.name.replace('"', '""')
            info = connection.exec_driver_sql(f'PRAGMA index_info("{index}")').all()
            found.append(tuple(str(c.name) for c in sorted(info, key=lambda c: c.seqno)))
    return found


def broken_references(connection: Connection) -> list[tuple[str, int | None, str]]:
    """``PRAGMA foreign_key_check``: (table, rowid, referenced table) of each row whose
    reference names no row (no rowid in a ``WITHOUT ROWID`` table)."""
    rows = connection.exec_driver_sql("PRAGMA foreign_key_check")
    return [(str(table), rowid, str(parent)) for table, rowid, parent, _fk in rows]
