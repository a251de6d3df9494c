"""Moves an operator asks for (console, admin API): checked, claimed, run as a platform job.

:func:`request_move` checks the request against the configuration and the
tenant's placement, claims the move (one row per tenant in
``tenantry_placement_moves``: a second request while one runs is refused) and
audits it, all in the caller's transaction. Once that commits, the caller
queues :data:`MOVE_JOB`; :func:`run_move` runs :func:`~tenantry.placement.move.move_tenant`
and keeps its progress and outcome in the claim row, for the console to show.
The tenant is read-only while its rows are copied (the move marks it ``moving``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from sqlalchemy import or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from tenantry import audit
from tenantry.errors import Conflict, TenantryError, ValidationFailed
from tenantry.models import (
    MoveStatus,
    PlacementKind,
    PlacementMove,
    PlacementState,
    TenantPlacement,
    TenantStatus,
    utcnow,
)
from tenantry.placement.location import SHARED, Location
from tenantry.placement.policy import choose
from tenantry.tenants import get_tenant

if TYPE_CHECKING:
    from tenantry.jobs import Jobs
    from tenantry.placement.move import MoveReport
    from tenantry.placement.router import Placements

log = logging.getLogger("tenantry.placement")

MOVE_JOB = "tenantry.placement.move"
# A running move whose row has not changed for this long lost its worker: it may be taken over.
STALE = timedelta(minutes=10)
HEARTBEAT_SECONDS = 2.0
STARTED, DONE, FAILED = (
    "platform.move_started",
    "platform.move_done",
    "platform.move_failed",
)


class MoveRefused(Conflict):
    """The move cannot start: the tenant is there already, or a move of it is running."""

    code = "move_refused"


class PlacementNotConfigured(Conflict):
    code = "placement_not_configured"


@dataclass(frozen=True, slots=True)
class MoveView:
    """The last move asked for a tenant, as the console shows it."""

    status: str
    to: str
    server: str | None
    source: Location | None
    target: Location | None
    step: str | None
    error: str | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def stale(self) -> bool:
        """Running, but nothing happened for :data:`STALE`: its worker is gone."""
        return self.status == MoveStatus.RUNNING.value and utcnow() - self.updated_at > STALE

    @classmethod
    def of(cls, row: PlacementMove) -> MoveView:
        return cls(
            status=row.status,
            to=row.to,
            server=row.server,
            source=Location.from_dict(row.source) if row.source else None,
            target=Location.from_dict(row.target) if row.target else None,
            step=row.step,
            error=row.error,
            started_at=row.started_at,
            updated_at=row.updated_at,
            finished_at=row.finished_at,
        )


@dataclass(frozen=True, slots=True)
class PlacementView:
    """Where a tenant's rows are, whether it is read-only for a move, and its last move."""

    location: Location
    state: str
    move: MoveView | None

    @property
    def read_only(self) -> bool:
        return self.state == PlacementState.MOVING.value


def placement_views(
    session: Session, tenant_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, PlacementView]:
    """The placement of each tenant (no row: shared) and its last move, in two queries."""
    ids = list(tenant_ids)
    if not ids:
        return {}
    rows = {
        r.tenant_id: r
        for r in session.scalars(select(TenantPlacement).where(TenantPlacement.tenant_id.in_(ids)))
    }
    moves = {
        m.tenant_id: MoveView.of(m)
        for m in session.scalars(select(PlacementMove).where(PlacementMove.tenant_id.in_(ids)))
    }
    views = {}
    for tenant_id in ids:
        row = rows.get(tenant_id)
        location = Location(row.kind, row.server, row.database) if row else SHARED
        state = row.state if row else PlacementState.ACTIVE.value
        views[tenant_id] = PlacementView(location, state, moves.get(tenant_id))
    return views


def placement_view(session: Session, tenant_id: uuid.UUID) -> PlacementView:
    return placement_views(session, [tenant_id])[tenant_id]


def _backend(placements: Placements, location: Location) -> str:
    return make_url(placements.url_of(location)).get_backend_name()


def _check_request(placements: Placements, *, to: str, server: str | None) -> None:
    """Refuse a request that no state of the tenant makes valid (422s come before 409s)."""
    if to not in (PlacementKind.SHARED.value, PlacementKind.DEDICATED.value):
        raise ValidationFailed(
            f"to must be 'shared' or 'dedicated', not {to[:40]!r}", details={"field": "to"}
        )
    if to == PlacementKind.SHARED.value and server is not None:
        raise ValidationFailed(
            "a server is named for a dedicated database only", details={"field": "server"}
        )
    if server is not None and server not in placements.config.servers:
        raise ValidationFailed(
            f"no server named {server[:63]!r} in the placement configuration",
            details={"field": "server"},
        )


def _target(
    session: Session,
    placements: Placements,
    tenant_id: uuid.UUID,
    current: Location,
    *,
    to: str,
    server: str | None,
) -> Location:
    """Where the move would go (the request checked by :func:`_check_request`);
    :class:`MoveRefused` if that is where the tenant is."""
    if to == PlacementKind.SHARED.value:
        if current.is_shared:
            raise MoveRefused("the tenant is in the shared tables already")
        return SHARED
    if not current.is_shared and server in (None, current.server):
        raise MoveRefused(f"the tenant is {current.describe()} already")
    try:
        wanted = choose(session, placements.config, tenant_id, None, kind=to, server=server)
    except TenantryError as exc:
        raise MoveRefused(exc.message) from None
    if _backend(placements, current) != _backend(placements, wanted):
        raise MoveRefused(
            "moves between SQLite and PostgreSQL are not supported: "
            "use `tenantry tenants export` and `import`"
        )
    return wanted


def request_move(
    session: Session,
    placements: Placements | None,
    tenant_id: uuid.UUID,
    *,
    to: str,
    server: str | None,
    actor_id: int,
) -> MoveView:
    """Check and claim a move of ``tenant_id`` and audit it (``platform.move_started``).

    Commit before queueing :data:`MOVE_JOB`: the job reads the claim.

    Raises:
        TenantNotFound: no such tenant.
        ValidationFailed: ``to`` is neither shared nor dedicated, or an unknown server.
        MoveRefused: the tenant is deleted, there already, or being moved.
        PlacementNotConfigured: the app has no placement configuration.
    """
    tenant = get_tenant(session, tenant_id)
    if placements is None:
        raise PlacementNotConfigured(
            "tenant placement is not configured (TENANTRY_PLACEMENTS): "
            "every tenant lives in the shared tables"
        )
    _check_request(placements, to=to, server=server)
    if tenant.status == TenantStatus.DELETED.value:
        raise MoveRefused("the tenant is deleted: restore it before moving it")
    view = placement_view(session, tenant_id)
    running = view.move is not None and view.move.status == MoveStatus.RUNNING.value
    if view.move is not None and running and not view.move.stale:
        raise MoveRefused(
            f"a move of this tenant is running (since {view.move.started_at:%H:%M:%S} UTC)"
        )
    if view.read_only and not running:
        raise MoveRefused(
            "this tenant is being moved outside the console, or such a move was interrupted: "
            "finish it with `tenantry tenants move`"
        )
    wanted = _target(session, placements, tenant_id, view.location, to=to, server=server)
    now = utcnow()
    values: dict[str, Any] = {
        "status": MoveStatus.RUNNING.value,
        "to": to,
        "server": wanted.server,
        "source": view.location.as_dict(),
        "target": wanted.as_dict(),
        "step": "queued",
        "error": None,
        "actor_id": actor_id,
        "started_at": now,
        "updated_at": now,
        "finished_at": None,
    }
    if _claim(session, tenant_id, values, quiet=STALE) is not None:
        raise MoveRefused("a move of this tenant is running")
    audit.record(
        session,
        STARTED,
        tenant_id=tenant_id,
        actor_id=actor_id,
        **{"from": view.location.describe(), "to": wanted.describe()},
    )
    session.flush()
    row = session.get(PlacementMove, tenant_id, populate_existing=True)
    assert row is not None
    return MoveView.of(row)


# A running move whose row changed less than this ago is alive: its process touches the row
# every STALE / 10 (``_alive``) and at every step. A command-line move waits that long for
# one whose process was stopped, not the ten minutes a queued job waits (STALE).
ALIVE = timedelta(minutes=2)


def move_from_command_line(
    placements: Placements,
    tenant_id: uuid.UUID,
    *,
    to: str,
    server: str | None,
    on_step: Callable[[str], None],
) -> MoveReport:
    """``tenantry tenants move``: the move run here, under the console's claim.

    Refused while another move of the tenant is alive (the console's, or another
    command's); one whose process stopped (no sign of life for :data:`ALIVE`) is taken
    over and finished. How it ended is recorded as a console move's is, so the console
    shows it (a move it started and this command finished no longer says "running").

    Raises:
        MoveRefused: a move of the tenant is running, or the tenant is deleted.
        MoveFailed: as :func:`~tenantry.placement.move.move_tenant`.
    """
    _claim_here(placements, tenant_id, to=to, server=server)
    return _run_claimed(placements, tenant_id, to=to, server=server, on_step=on_step)


def _claim_here(
    placements: Placements, tenant_id: uuid.UUID, *, to: str, server: str | None
) -> None:
    now = utcnow()
    with placements.control.session() as session:
        tenant = get_tenant(session, tenant_id)
        if tenant.status == TenantStatus.DELETED.value:
            raise MoveRefused("the tenant is deleted: restore it before moving it")
        values: dict[str, Any] = {
            "status": MoveStatus.RUNNING.value,
            "to": to,
            "server": server,
            "source": placement_view(session, tenant_id).location.as_dict(),
            "target": None,
            "step": "started",
            "error": None,
            "actor_id": None,
            "started_at": now,
            "updated_at": now,
            "finished_at": None,
        }
        running = _claim(session, tenant_id, values, quiet=ALIVE)
        if running is not None:
            quiet = (now - running.updated_at).total_seconds()
            raise MoveRefused(
                f"a move of this tenant is running (at step {running.step or 'queued'}, its "
                f"last sign of life {quiet:.0f} s ago): wait for it to end; if its process "
                f"was stopped, run this again once it has been quiet for "
                f"{ALIVE.total_seconds():.0f} s"
            )


def _claim(
    session: Session, tenant_id: uuid.UUID, values: dict[str, Any], *, quiet: timedelta
) -> PlacementMove | None:
    """Take the tenant's claim row (one per tenant: updated, or inserted the first time)
    unless a move of it is running and touched it within ``quiet``; that move, if so.

    Raises:
        MoveRefused: another request took the claim between our look and now.
    """
    claimed = session.execute(
        update(PlacementMove)
        .where(
            PlacementMove.tenant_id == tenant_id,
            or_(
                PlacementMove.status != MoveStatus.RUNNING.value,
                PlacementMove.updated_at < values["updated_at"] - quiet,
            ),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount == 1:  # type: ignore[attr-defined]
        return None
    running = session.get(PlacementMove, tenant_id)
    if running is not None:
        return running
    try:
        with session.begin_nested():
            session.add(PlacementMove(tenant_id=tenant_id, **values))
    except IntegrityError:
        raise MoveRefused("a move of this tenant is running") from None
    return None


def _finish(
    placements: Placements,
    tenant_id: uuid.UUID,
    *,
    error: str | None,
    target: Location | None = None,
) -> None:
    with placements.control.session() as session:
        row = session.get(PlacementMove, tenant_id)
        if row is None:
            return
        now = utcnow()
        row.status = MoveStatus.FAILED.value if error else MoveStatus.DONE.value
        row.error = error[:1000] if error else None
        row.step = "failed" if error else "done"
        if target is not None:
            row.target = target.as_dict()
        row.updated_at = row.finished_at = now
        details = {"error": row.error} if error else {"to": (target or SHARED).describe()}
        audit.record(
            session,
            FAILED if error else DONE,
            tenant_id=tenant_id,
            actor_id=row.actor_id,
            **details,
        )


def fail_move(placements: Placements, tenant_id: uuid.UUID, error: str) -> None:
    """Record a move as failed (its job could not be queued, or it stopped)."""
    _finish(placements, tenant_id, error=error)


def _progress(placements: Placements, tenant_id: uuid.UUID) -> Callable[[str], None]:
    """An ``on_step`` that writes the step to the claim row, at most every few seconds."""
    last = 0.0

    def on_step(name: str) -> None:
        nonlocal last
        if time.monotonic() - last < HEARTBEAT_SECONDS and not name.isalpha():
            return  # a copied batch; the named steps are always written
        last = time.monotonic()
        with placements.control.session() as session:
            session.execute(
                update(PlacementMove)
                .where(PlacementMove.tenant_id == tenant_id)
                .values(step=name[:255], updated_at=utcnow())
            )

    return on_step


def _take(placements: Placements, tenant_id: uuid.UUID) -> tuple[str, str | None] | None:
    """Take the claim for one run: queued, or running with no sign of life for
    :data:`STALE` (its worker died). ``None``: no claim, finished, or another run has it."""
    now = utcnow()
    with placements.control.session() as session:
        taken = session.execute(
            update(PlacementMove)
            .where(
                PlacementMove.tenant_id == tenant_id,
                PlacementMove.status == MoveStatus.RUNNING.value,
                or_(PlacementMove.step == "queued", PlacementMove.updated_at < now - STALE),
            )
            .values(step="started", updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return None
        row = session.get(PlacementMove, tenant_id)
        assert row is not None
        return row.to, row.server


@contextmanager
def _alive(placements: Placements, tenant_id: uuid.UUID) -> Iterator[None]:
    """Touch the claim while the run lasts, so that a long step (a drain, a checksum)
    never makes a live run look :data:`STALE` to a second delivery of its job."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(STALE.total_seconds() / 10):
            with suppress(SQLAlchemyError), placements.control.session() as session:
                session.execute(
                    update(PlacementMove)
                    .where(PlacementMove.tenant_id == tenant_id)
                    .values(updated_at=utcnow())
                )

    thread = threading.Thread(target=beat, name=f"move-{tenant_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_move(placements: Placements, tenant_id: uuid.UUID) -> None:
    """The job: run the claimed move and record how it ended (never raises).

    A second run of the same claim while the first is alive does nothing: the first
    takes the claim (step ``queued`` to ``started``) and keeps it fresh.
    """
    taken = _take(placements, tenant_id)
    if taken is None:
        return  # no claim (the tenant was purged), finished already, or running elsewhere
    to, server = taken
    try:
        report = _run_claimed(placements, tenant_id, to=to, server=server)
    except (TenantryError, SQLAlchemyError):
        return  # recorded on the claim for the console
    except Exception:
        log.exception("move of tenant %s failed", tenant_id)
        return
    log.info("tenant %s moved: %s", tenant_id, report.target.describe())


def _run_claimed(
    placements: Placements,
    tenant_id: uuid.UUID,
    *,
    to: str,
    server: str | None,
    on_step: Callable[[str], None] | None = None,
) -> MoveReport:
    """Run the move whose claim this process holds, keeping the claim alive and its step
    current, and record how it ended on it (what it raised is raised again)."""
    from tenantry.placement.move import move_tenant

    progress = _progress(placements, tenant_id)

    def step(name: str) -> None:
        progress(name)
        if on_step is not None:
            on_step(name)

    try:
        with _alive(placements, tenant_id):
            report = move_tenant(placements, tenant_id, to=to, server=server, on_step=step)
    except TenantryError as exc:
        _finish(placements, tenant_id, error=exc.message)
        raise
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        _finish(placements, tenant_id, error=f"database error: {first} (start the move again)")
        raise
    except BaseException as exc:  # another fault, ^C: the claim says it stopped
        _finish(placements, tenant_id, error=f"stopped ({type(exc).__name__}): start it again")
        raise
    _finish(placements, tenant_id, error=None, target=report.target)
    return report


def move_job(placements: Placements) -> Callable[..., None]:
    """:data:`MOVE_JOB` for :meth:`tenantry.jobs.Jobs.platform_job`."""

    def job(_session: Session, tenant_id: str) -> None:
        run_move(placements, uuid.UUID(tenant_id))

    return job


async def queue_move(jobs: Jobs, placements: Placements, tenant_id: uuid.UUID) -> None:
    """Queue the claimed move (after the claim committed); a queue that refuses fails it."""
    try:
        await jobs.enqueue_platform(MOVE_JOB, tenant_id=str(tenant_id))
    except Exception as exc:  # no spool and the queue is down: say so on the move
        log.exception("move of tenant %s not queued", tenant_id)
        reason = f"the job queue refused the move ({type(exc).__name__}): start it again"
        await anyio.to_thread.run_sync(fail_move, placements, tenant_id, reason)
