"""Usage metering: counted in memory per process, flushed to the database in batches.

A request adds to a dict under a lock (about a microsecond); nothing is written
per request. A daemon thread flushes every ``interval`` seconds: short
transactions that add each pending count to its ``tenantry_usage`` row
(``INSERT … ON CONFLICT DO UPDATE SET value = value + excluded.value``), so
several processes add up. A crash loses what was counted since the last flush,
at most one interval; a clean shutdown (``close()``) flushes what is pending.
Counts are attributed to the billing period (calendar month, UTC) in which
they happened.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import ORMExecuteState, Session

from tenantry.hooks import SessionFactory, listen, set_info
from tenantry.models import UsageCounter, is_tenant_scoped
from tenantry.models.tenant import existing_tenant_ids
from tenantry.outages import is_connection_failure
from tenantry.plans.catalogue import EXPORT_BYTES_PER_MONTH, REQUESTS_PER_MONTH, Catalogue
from tenantry.plans.entitlements import Entitlements, load_entitlements_many
from tenantry.plans.quotas import inserted_rows, soft_alert
from tenantry.scoping import session_tenant

log = logging.getLogger("tenantry.plans")

REQUESTS = "requests"
EXPORT_BYTES = "export_bytes"
ROWS_CREATED = "rows_created."
METER_KEY = "tenantry.meter"
_PENDING_ROWS = "tenantry.rows_created"

# Metered quantities with a monthly limit: soft limits are checked when they are flushed.
METERED_LIMITS: Mapping[str, str] = {
    REQUESTS: REQUESTS_PER_MONTH,
    EXPORT_BYTES: EXPORT_BYTES_PER_MONTH,
}

Key = tuple[uuid.UUID, date, str]

# Counters written a transaction: a flush holds SQLite's write lock for a few milliseconds
# at a time, not for the whole of a thousand tenants' counts.
FLUSH_ROWS = 200
FLUSH_PAUSE = 0.002  # seconds between two of a flush's transactions


def period_start(moment: datetime | None = None) -> date:
    """The first day of the billing period (calendar month, UTC) holding ``moment``."""
    moment = moment or datetime.now(UTC)
    return date(moment.year, moment.month, 1)


def period_end(start: date) -> date:
    """The first day after the period that starts on ``start``."""
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


class UsageMeter:
    """Per-process usage counters with batched flushes.

    Args:
        sessions: where flushes write (an unscoped use of the control-plane table).
        reads: read-only sessions for what a flush reads first (default: ``sessions``).
        catalogue: to check the monthly limits of flushed counts (soft limits).
        interval: seconds between flushes; what a crash can lose.
        enabled: ``False`` counts nothing (the benchmark's baseline).
    """

    def __init__(
        self,
        sessions: Callable[[], Session] | None,
        *,
        reads: Callable[[], Session] | None = None,
        catalogue: Catalogue | None = None,
        interval: float = 10.0,
        enabled: bool = True,
    ) -> None:
        self.sessions = sessions
        self.reads = reads
        self.catalogue = catalogue
        self.interval = interval
        self.enabled = enabled and sessions is not None
        self._counts: Counter[Key] = Counter()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._period = period_start()
        self._period_ends = self._boundary(self._period)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def _boundary(start: date) -> float:
        end = period_end(start)
        return datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp()

    def add(self, tenant_id: uuid.UUID, metric: str, amount: int = 1) -> None:
        """Count ``amount`` of ``metric`` for the tenant in the current period (no I/O)."""
        if not self.enabled or amount <= 0:
            return
        if time.time() >= self._period_ends:
            self._period = period_start()
            self._period_ends = self._boundary(self._period)
        key = (tenant_id, self._period, metric)
        with self._lock:
            self._counts[key] += amount
        if self._thread is None:
            self._start()

    def pending(self, tenant_id: uuid.UUID, period: date) -> dict[str, int]:
        """What this process counted for the tenant and period but has not flushed yet."""
        with self._lock:
            return {m: v for (t, p, m), v in self._counts.items() if t == tenant_id and p == period}

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name="tenantry-usage-flush", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self) -> int:
        """Write the pending counts; return how many counters were handled.

        On a database error the counts not yet written are kept for the next flush (and
        logged); those already committed are not counted twice.
        """
        if self.sessions is None:
            return 0
        with self._flush_lock:
            with self._lock:
                batch, self._counts = self._counts, Counter()
            if not batch:
                return 0
            handled = len(batch)
            try:
                self._write(batch)
            except Exception as failure:
                if is_connection_failure(failure):  # an outage, not a fault: a warning
                    log.warning(
                        "usage flush: database unavailable (%s); %d counters kept for the next one",
                        type(failure).__name__,
                        len(batch),
                    )
                else:
                    log.exception(
                        "usage flush failed; %d counters kept for the next one", len(batch)
                    )
                with self._lock:
                    self._counts.update(batch)
                return 0
            return handled

    def _write(self, batch: Counter[Key]) -> None:
        """Add ``batch`` to the stored counters, :data:`FLUSH_ROWS` a transaction.

        What a flush reads (which tenants still exist, their plans) is read first, outside
        any write: on SQLite a write transaction holds the database's one write lock, and a
        flush of a thousand tenants in one took 60-130 ms, in which every request that
        writes waited. Keys are removed from ``batch`` as their transaction commits, so a
        failure leaves only the unwritten ones to keep.
        """
        assert self.sessions is not None
        tenants = {t for t, _, _ in batch}
        with (self.reads or self.sessions)() as session:
            # A tenant purged since it was counted: its counts go with it (they would
            # otherwise fail the foreign key at every flush, for ever).
            if self.catalogue is None:
                plans = None
                alive = existing_tenant_ids(session, tenants)
            else:
                plans = load_entitlements_many(session, tenants, catalogue=self.catalogue)
                alive = set(plans)
        for key in [k for k in batch if k[0] not in alive]:
            del batch[key]
        # One order for every process: two flushes lock rows in the same order (PostgreSQL).
        keys = sorted(batch, key=str)
        for start in range(0, len(keys), FLUSH_ROWS):
            if start:
                time.sleep(FLUSH_PAUSE)  # the write lock's waiters take their turn
            chunk = keys[start : start + FLUSH_ROWS]
            with self.sessions() as session, session.begin():
                upsert = _upsert(session.get_bind().dialect.name)
                totals = self._add(session, upsert, {k: batch[k] for k in chunk})
                if plans is not None:
                    self._soft_limits(session, plans, totals, batch)
            for key in chunk:
                del batch[key]

    @staticmethod
    def _add(session: Session, upsert: Any, counts: Mapping[Key, int]) -> dict[Key, int]:
        """Upsert ``counts``; the stored totals after it, by key."""
        rows = [
            {"tenant_id": t, "period_start": p, "metric": m, "value": v}
            for (t, p, m), v in counts.items()
        ]
        return {(t, p, m): int(v) for t, p, m, v in session.execute(upsert, rows)}

    @staticmethod
    def _soft_limits(
        session: Session,
        plans: Mapping[uuid.UUID, Entitlements],
        totals: Mapping[Key, int],
        added: Mapping[Key, int],
    ) -> None:
        """Audit 80 % / 100 % of a monthly limit crossed by this flush (exactly once).

        The totals are the upsert's own (``RETURNING``): no read per tenant, nor a second
        query per chunk of tenants.
        """
        for key, after in totals.items():
            tenant_id, _period, metric = key
            limit = METERED_LIMITS.get(metric)
            tenant = plans.get(tenant_id)
            allowed = tenant.limit(limit) if tenant is not None and limit else None
            if allowed is None or limit is None:
                continue
            soft_alert(
                session,
                tenant_id=tenant_id,
                limit=limit,
                allowed=allowed,
                before=after - added[key],
                after=after,
            )

    def close(self) -> None:
        """Stop the flush thread and flush what is pending."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(self.interval, 1.0) + 5)
        self.flush()


@lru_cache(maxsize=2)
def _upsert(dialect: str) -> Any:
    """``INSERT … ON CONFLICT DO UPDATE`` adding to each counter, returning its new total
    (built once a dialect)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt: Any = insert(UsageCounter)
    return stmt.on_conflict_do_update(
        index_elements=["tenant_id", "period_start", "metric"],
        set_={"value": UsageCounter.value + stmt.excluded.value},
    ).returning(
        UsageCounter.tenant_id, UsageCounter.period_start, UsageCounter.metric, UsageCounter.value
    )


def meter_of(session: Session) -> UsageMeter | None:
    found = session.info.get(METER_KEY)
    return found if isinstance(found, UsageMeter) else None


def _after_flush(session: Session, flush_context: Any) -> None:
    created: Counter[tuple[uuid.UUID, str]] | None = None
    for obj in session.new:
        if is_tenant_scoped(type(obj)):
            if created is None:
                created = session.info.setdefault(_PENDING_ROWS, Counter())
            created[(obj.tenant_id, obj.__table__.name)] += 1


def _on_execute(state: ORMExecuteState) -> None:
    """An ORM bulk insert (``insert(Model)`` with its rows) creates rows no object of the
    session stands for: counted in the session's tenant, like ``add``."""
    mapper = state.bind_mapper
    if not state.is_insert or mapper is None or not is_tenant_scoped(mapper.class_):
        return
    tenant_id = session_tenant(state.session)
    if tenant_id is not None:
        created = state.session.info.setdefault(_PENDING_ROWS, Counter())
        table = mapper.local_table.name  # type: ignore[attr-defined]
        created[(tenant_id, table)] += inserted_rows(state.statement, state.parameters)


def _after_commit(session: Session) -> None:
    created = session.info.pop(_PENDING_ROWS, None)
    meter = meter_of(session)
    if created and meter is not None:
        for (tenant_id, table), count in created.items():
            meter.add(tenant_id, ROWS_CREATED + table, count)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_ROWS, None)


def install_metering(factory: SessionFactory, meter: UsageMeter) -> None:
    """Count rows created per table (on commit) for every session of ``factory``."""
    if set_info(factory, METER_KEY, meter):
        listen(factory, "after_flush", _after_flush)
        listen(factory, "do_orm_execute", _on_execute)
        listen(factory, "after_commit", _after_commit)
        listen(factory, "after_soft_rollback", lambda s, prev: _after_rollback(s))
