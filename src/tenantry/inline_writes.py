"""Short units of work on an SQLite file, on the event loop when nothing would make it wait.

A POST's unit of work used to run in a worker thread so that the event loop never waits
for SQLite's write lock. The hop there and back costs more than the work: ~0.3 ms of a
reading's ~1.8 ms of CPU here (futex wake-ups across cores, and the work runs colder on
the other one). :class:`InlineWrites` runs the work on the loop instead whenever that
cannot wait or run long, and hands it back to a thread otherwise:

- the process's writer turn is taken without waiting (a thread writing now: the work
  goes to a thread, which waits its turn), and ``BEGIN IMMEDIATE`` has no busy timeout
  (another process writing: likewise);
- its SQL runs on a step budget (:class:`~tenantry.db.StepBudget`): work that outruns it
  is rolled back and run again from the start in a thread, so its effects must stay in
  its session and the hooks its commit runs;
- commits never sync to disk (WAL with ``synchronous=NORMAL``, else the work stays in
  threads), and this connection never checkpoints: a checkpoint, which does, runs in a
  thread every :data:`CHECKPOINT_EVERY` commits.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

from sqlalchemy import exc
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from tenantry.context import TenantContext
from tenantry.db import NotInline, SlowKeys, StepBudget, install_write_hooks, make_engine
from tenantry.hooks import SessionFactory
from tenantry.scoping import TenantSession, bind_tenant
from tenantry.sqlite import SQLITE_PRAGMAS, WriterTurns, is_locked

T = TypeVar("T")
log = logging.getLogger(__name__)

# Commits on the loop's connection between two checkpoints in a thread (SQLite's own
# automatic checkpoint comes at ~1,000 pages of WAL; a reading writes a handful).
CHECKPOINT_EVERY = 200


def inline_safe(pragmas: Mapping[str, str]) -> bool:
    """Whether a commit under ``pragmas`` writes without syncing to disk (WAL, NORMAL)."""
    merged = {k.lower(): str(v).upper() for k, v in {**SQLITE_PRAGMAS, **pragmas}.items()}
    return merged.get("journal_mode") == "WAL" and merged.get("synchronous") in ("NORMAL", "1")


class InlineWrites:
    """Units of work on an SQLite file run on the event loop; made by
    :meth:`Database.inline_writes <tenantry.db.Database.inline_writes>`."""

    def __init__(self, url: str, turns: WriterTurns, **engine_kwargs: Any) -> None:
        pragmas = {
            **(engine_kwargs.pop("sqlite_pragmas", None) or {}),
            "busy_timeout": "0",
            "wal_autocheckpoint": "0",
        }
        self.engine = make_engine(
            url,
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=-1,
            sqlite_pragmas=pragmas,
            writer_turns=turns.without_waiting(),
            **engine_kwargs,
        )
        self.sessions: sessionmaker[Session] = sessionmaker(
            self.engine, expire_on_commit=False, class_=TenantSession
        )
        install_write_hooks(self.sessions, postgresql=False)
        self._slow = SlowKeys()
        self._commits = 0
        self.checkpointing: threading.Thread | None = None

    def run_within(
        self,
        steps: int,
        key: Hashable,
        ctx: TenantContext,
        work: Callable[..., T],
        *args: Any,
    ) -> T:
        """``work(session, *args)`` in ``ctx``'s tenant, committed, if it can start at once
        and its SQL ends within ``steps``; else :class:`NotInline`, with nothing written.

        ``key`` (the work and its tenant) that ran out of steps goes straight to a thread
        for a while (:class:`~tenantry.db.SlowKeys`). An error of the work itself is
        raised as it is, after the rollback.
        """
        if key in self._slow:
            raise NotInline
        budget = StepBudget(steps)
        with self.sessions() as session:
            bind_tenant(session, ctx)
            try:
                sqlite: Any = session.connection().connection.dbapi_connection
            except (exc.OperationalError, sqlite3.OperationalError) as failure:
                if is_locked(failure):  # a writer, here or elsewhere
                    raise NotInline from None
                raise
            budget.arm(sqlite)
            try:
                result = work(session, *args)
                session.flush()
            except Exception:
                if not budget.spent:
                    raise
            finally:
                sqlite.set_progress_handler(None, 0)
            if not budget.spent:  # (work that caught the interruption: run it again)
                session.commit()
                self._committed()
                return result
        self._slow.add(key)
        raise NotInline

    def _committed(self) -> None:
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY and self.checkpointing is None:
            self._commits = 0
            self.checkpointing = threading.Thread(
                target=self._checkpoint, name="tenantry-checkpoint", daemon=True
            )
            self.checkpointing.start()

    def _checkpoint(self) -> None:
        """Copy the WAL's pages into the database (passive: it waits for no one)."""
        try:
            raw = self.engine.raw_connection()
            try:
                raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                raw.close()
        except Exception as failure:  # the threads' writers still checkpoint as they commit
            log.warning("checkpoint of %s failed: %s", self.engine.url.database, failure)
        finally:
            self.checkpointing = None

    def factories(self) -> list[tuple[SessionFactory, bool]]:
        """Its session factory, for the host's session setups (it writes)."""
        return [(self.sessions, True)]

    def dispose(self) -> None:
        self.engine.dispose()
