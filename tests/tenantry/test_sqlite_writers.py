"""SQLite writers of one process take turns: none fails, none waits in the busy handler."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, exc, text

from tenantry.db import Database


def test_concurrent_writers_all_commit_and_the_turn_is_given_back(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for _ in range(20):
                with db.sessions() as s, s.begin():
                    s.execute(text("INSERT INTO t VALUES (:n)"), {"n": i})
            with db.sessions() as s:  # a rolled-back write gives the turn back too
                s.execute(text("INSERT INTO t VALUES (-1)"))
                s.rollback()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t WHERE n >= 0")).scalar_one() == 160
        assert conn.execute(text("SELECT count(*) FROM t WHERE n < 0")).scalar_one() == 0
    # The turn is free: a new writer begins at once (a leaked turn would wait 10 s and fail).
    with db.sessions() as s, s.begin():
        s.execute(text("INSERT INTO t VALUES (99)"))
    db.dispose()


def _begins(db: Database) -> list[str]:
    """Every ``BEGIN IMMEDIATE`` the engine sends, as it sends it."""
    sent: list[str] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement == "BEGIN IMMEDIATE":
            sent.append(statement)

    return sent


def test_a_writer_meeting_another_process_tries_again_until_it_ends(tmp_path: Path) -> None:
    """Not SQLite's busy handler, whose sleeps grow to 100 ms: tried again every 0.2-2 ms,
    so it begins soon after the other process's transaction ends."""
    path = tmp_path / "w.db"
    db = Database(f"sqlite:///{path}")
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    begins = _begins(db)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another worker's write
    threading.Timer(0.3, lambda: other.execute("COMMIT")).start()
    with db.sessions() as s, s.begin():
        s.execute(text("INSERT INTO t VALUES (1)"))
        busy = s.connection().exec_driver_sql("PRAGMA busy_timeout").scalar_one()
    other.close()
    assert len(begins) > 3  # one try per retry, not a single statement asleep in SQLite
    assert busy == 10_000  # the connection's own timeout is back for everything else
    db.dispose()


def test_a_writer_gives_up_at_the_busy_timeout_with_an_error(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    db = Database(f"sqlite:///{path}", sqlite_pragmas={"busy_timeout": "200"})
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with (
            pytest.raises(exc.OperationalError, match="database is locked"),
            db.sessions() as s,
            s.begin(),
        ):
            s.execute(text("SELECT 1"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    with db.sessions() as s, s.begin():  # its turn was given back with the failure
        s.execute(text("CREATE TABLE t (n INTEGER)"))
    db.dispose()
