"""SQLite writers of one process take turns: none fails, none waits in the busy handler."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

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
