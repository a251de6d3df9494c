"""What an operator asks of the database: pool use, slowest statements, migrations, doctor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, event, text

from tenantry.db import Database
from tenantry.fleet import FleetStats
from tenantry.read_only import read_only_options
from tenantry.statements import StatementLog, StatementStats

if TYPE_CHECKING:
    from tenantry.doctor import Report


@dataclass(frozen=True, slots=True)
class Migrations:
    expected: tuple[str, ...]
    current: tuple[str, ...]
    # Applied revisions this code has no file for: the database was migrated by a newer
    # release (an upgrade under way, or a rollback of the code alone).
    unknown: tuple[str, ...] = ()

    @property
    def at_head(self) -> bool:
        return set(self.current) == set(self.expected)

    @property
    def ahead(self) -> str | None:
        """What to say when a newer release migrated the database, else None."""
        if not self.unknown:
            return None
        return (
            f"the database is at revision {', '.join(self.unknown)}, newer than this code: "
            "deploy the release that migrated it"
        )


@dataclass(frozen=True, slots=True)
class PoolState:
    in_use: int | None
    size: int | None
    overflow: int | None


@dataclass(frozen=True, slots=True)
class DatabaseHealth:
    backend: str
    reachable: bool
    pool: PoolState
    migrations: Migrations | None
    slowest: list[StatementStats]
    error: str | None = None


class Operations:
    """One per process: the statement record, the size cache, the expected migration heads.

    Args:
        db: the app's database.
        version_dirs: the plugins' migration directories (the core's are always included).
        app_role: the runtime role the doctor vets (PostgreSQL).
    """

    def __init__(
        self, db: Database, *, version_dirs: Sequence[Path] = (), app_role: str | None = None
    ) -> None:
        self.db = db
        # Its own reads take no SQLite write lock: the request's session may hold it.
        self.reader = db.engine.execution_options(**read_only_options(db.engine.dialect.name))
        self.version_dirs = tuple(version_dirs)
        self.app_role = app_role
        from tenantry.metrics import STATEMENT_TIME  # prometheus_client only when operated

        self.statements = StatementLog(observe=STATEMENT_TIME.observe)
        db.setup_engines(self.statements.watch)  # the loop's inline and async reads too
        self.sizes = FleetStats()
        self._expected: tuple[str, ...] | None = None
        self._known: frozenset[str] = frozenset()
        _watch_pool(db.engine)

    def expected_heads(self) -> tuple[str, ...]:
        if self._expected is None:
            from alembic.script import ScriptDirectory

            from tenantry.migrations.runner import alembic_config, known_revisions

            script = ScriptDirectory.from_config(alembic_config(self.db.engine, self.version_dirs))
            self._known = known_revisions(script)
            self._expected = tuple(sorted(script.get_heads()))
        return self._expected

    def migrations(self) -> Migrations:
        """Applied heads, read straight from Alembic's table (quiet and cheap for /readyz)."""
        with self.reader.connect() as conn:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            applied = tuple(sorted(current))
        expected = self.expected_heads()
        unknown = tuple(r for r in applied if r not in self._known)
        return Migrations(expected, applied, unknown)

    def pool(self) -> PoolState:
        pool = self.db.engine.pool

        def ask(name: str) -> int | None:
            method = getattr(pool, name, None)
            return int(method()) if callable(method) else None

        # QueuePool counts its overflow from -size: below zero, none of it is in use.
        overflow = ask("overflow")
        return PoolState(
            ask("checkedout"), ask("size"), None if overflow is None else max(0, overflow)
        )

    def ready(self) -> tuple[bool, str]:
        """Database reachable and every migration applied: ``(ok, reason)``."""
        try:
            with self.reader.connect() as conn:
                conn.execute(text("SELECT 1"))
            migrations = self.migrations()
        except Exception as exc:  # any failure to reach the database means not ready
            return False, f"database unreachable ({type(exc).__name__})"
        if migrations.unknown:
            # An upgrade under way: the new release migrated first. This process goes on
            # serving until it is replaced (a load balancer dropping every old process
            # at the migration would leave none), and says why it differs.
            return True, f"ready; {migrations.ahead}"
        if not migrations.at_head:
            return False, "migrations pending: run `tenantry migrate`"
        return True, "ready"

    def health(self, slowest: int = 10) -> DatabaseHealth:
        try:
            migrations: Migrations | None = self.migrations()
            error = None
        except Exception as exc:  # shown on the console, not raised
            migrations, error = None, type(exc).__name__
        return DatabaseHealth(
            backend=self.db.engine.dialect.name,
            reachable=error is None,
            pool=self.pool(),
            migrations=migrations,
            slowest=self.statements.slowest(slowest),
            error=error,
        )

    def doctor(self) -> Report:
        """``tenantry doctor`` on the live schema, as the console's button runs it."""
        from tenantry.doctor import diagnose

        return diagnose(self.reader, app_role=self.app_role)


def _watch_pool(engine: Engine) -> None:
    from tenantry.metrics import POOL_IN_USE, POOL_SIZE

    size = getattr(engine.pool, "size", None)
    if callable(size):
        POOL_SIZE.inc(size())
    event.listen(engine, "checkout", lambda *_: POOL_IN_USE.inc())
    event.listen(engine, "checkin", lambda *_: POOL_IN_USE.dec())
