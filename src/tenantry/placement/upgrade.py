"""Migrate every tenant database: bounded parallelism, one failure never stops the others.

Each database is upgraded by Alembic in one transaction of its own, so a
failing database is left at the revision it had (PostgreSQL's DDL is
transactional, and so is SQLite's), reported, and retried by the next run:
databases already at the newest revision cost one version check. Alembic's
``op`` and ``context`` are process globals, so the work runs in worker
processes, never threads.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select

from tenantry.models.placement import PlacementKind, TenantPlacement
from tenantry.placement.config import PlacementConfig, PlacementConfigError, Server
from tenantry.placement.location import Location


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one tenant database's migration went."""

    location: Location
    ok: bool
    error: str | None
    seconds: float


def dedicated_locations(control: Engine) -> list[Location]:
    """Every dedicated database the control plane knows: placements and move targets."""
    found: set[Location] = set()
    with control.connect() as conn:
        rows = conn.execute(
            select(
                TenantPlacement.kind,
                TenantPlacement.server,
                TenantPlacement.database,
                TenantPlacement.target,
            )
        ).all()
    for kind, server, database, target in rows:
        if kind == PlacementKind.DEDICATED.value:
            found.add(Location(kind, server, database))
        if target and target.get("kind") == PlacementKind.DEDICATED.value:
            found.add(Location.from_dict(target))
    return sorted(found, key=lambda loc: (loc.server or "", loc.database or ""))


def upgrade_database(
    server: Server,
    database: str,
    version_dirs: Sequence[Path] = (),
    app_dir: Path | None = None,
    prepare: Callable[[Engine], None] | None = None,
) -> None:
    """Create ``database`` on ``server`` if missing and bring it to the newest revision."""
    from tenantry.migrations.runner import migrate_database
    from tenantry.placement import provision

    provision.create_database(server, database)

    def run(engine: Engine, srv: Server) -> None:
        migrate_database(engine, version_dirs, app_role=srv.app_role, app_dir=app_dir)
        if prepare is not None:
            prepare(engine)

    provision.migrate_dedicated(server, database, run)


def _migrate_one(
    server: Server,
    database: str,
    version_dirs: Sequence[Path],
    app_dir: Path | None,
    prepare: Callable[[Engine], None] | None,
) -> tuple[bool, str | None, float]:
    started = time.perf_counter()
    try:
        upgrade_database(server, database, version_dirs, app_dir, prepare)
    except Exception as exc:  # reported, not raised: the other databases go on
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return False, f"{type(exc).__name__}: {first}", time.perf_counter() - started
    return True, None, time.perf_counter() - started


def migrate_all(
    config: PlacementConfig,
    locations: Sequence[Location],
    *,
    version_dirs: Sequence[Path] = (),
    app_dir: Path | None = None,
    prepare: Callable[[Engine], None] | None = None,
    jobs: int = 4,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Upgrade each of ``locations`` (at most ``jobs`` at once); every outcome is returned."""
    outcomes: list[Outcome] = []
    if not locations:
        return outcomes
    context = multiprocessing.get_context("spawn")  # no forked copies of pools or threads
    with ProcessPoolExecutor(
        max_workers=max(1, min(jobs, len(locations))), mp_context=context
    ) as pool:
        futures: dict[Future[tuple[bool, str | None, float]], Location] = {}
        for loc in locations:
            try:
                server = config.server(loc.server or "")
            except PlacementConfigError as exc:  # a server dropped from the file
                outcomes.append(Outcome(loc, False, exc.message, 0.0))
                if on_done is not None:
                    on_done(outcomes[-1])
                continue
            assert loc.database is not None
            futures[
                pool.submit(
                    _migrate_one, server, loc.database, list(version_dirs), app_dir, prepare
                )
            ] = loc
        for future in as_completed(futures):
            loc = futures[future]
            try:
                ok, error, seconds = future.result()
            except Exception as exc:  # the worker died (killed, out of memory)
                ok, error, seconds = False, f"worker failed: {exc}", 0.0
            outcome = Outcome(loc, ok, error, seconds)
            outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)
    return outcomes
