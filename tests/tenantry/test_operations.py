"""What the operator console reads of a process: its pool."""

from __future__ import annotations

from tenantry.db import Database
from tenantry.operations import Operations
from tenantry_server.settings import Settings


def test_an_idle_pool_has_no_overflow_in_use(settings: Settings) -> None:
    """The console's database page read "1 of 5 (+-2 overflow)" (outside tester):
    SQLAlchemy's QueuePool counts its overflow from minus its size."""
    db = Database(settings.database_url)
    try:
        with db.engine.connect():
            state = Operations(db).pool()
        assert state.in_use == 1
        assert state.overflow in (0, None)  # None: a pool without overflow (SQLite's)
    finally:
        db.dispose()
