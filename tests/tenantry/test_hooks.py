"""A host's session hooks reach every session factory of a Database, those made later too."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from tenantry.db import Database
from tenantry.hooks import SessionFactory, events_of, listen, set_info


def test_a_setup_reaches_the_async_and_inline_factories_made_after_it(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'app.db'}")
    seen: list[tuple[SessionFactory, bool]] = []
    db.setup_sessions(lambda factory, writes: seen.append((factory, writes)))
    assert seen == [(db.sessions, True), (db.read_sessions, False)]
    aio = db.aio
    inline = db.inline_reads()
    assert inline is not None
    assert seen[2:] == [(aio.sessions, True), (aio.read_sessions, False), (inline.sessions, False)]
    assert db.aio is aio and db.inline_reads() is inline  # made once, set up once
    assert len(seen) == 5
    db.dispose()


def test_settings_reach_an_async_factorys_sessions(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'app.db'}")
    assert set_info(db.aio.sessions, "tenantry.test", 1) is True
    assert set_info(db.aio.sessions, "tenantry.test", 2) is False
    assert db.aio.sessions().sync_session.info["tenantry.test"] == 2
    db.dispose()


def test_an_async_factory_without_a_class_of_its_own_is_refused() -> None:
    # Its events would be the global Session class's: every session in the process.
    with pytest.raises(ValueError, match="sync_session_class"):
        events_of(async_sessionmaker())


class _Counter:
    """A hook's object that reaches its Database, as Tenancy's postman and cache do."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.begun = 0

    def count(self, *_: Any) -> None:
        self.begun += 1


def test_a_hook_lives_as_long_as_its_sessions_and_no_longer(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'app.db'}")
    counter = _Counter(db)
    listen(db.sessions, "after_begin", counter.count)
    listen(db.aio.sessions, "after_begin", counter.count)
    hook = weakref.ref(counter)
    del counter  # the caller keeps nothing: the sessions keep their hook
    gc.collect()
    with db.sessions() as session:
        session.execute(text("SELECT 1"))
    alive = hook()
    assert alive is not None and alive.begun == 1
    del alive, session
    db.dispose()
    database = weakref.ref(db)
    del db
    gc.collect()
    # SQLAlchemy's process-wide registry of class listeners held the hook, the hook its
    # Database, and so its session classes, the registry's keys: nothing was ever freed.
    assert database() is None
    assert hook() is None
