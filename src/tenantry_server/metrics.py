"""``GET /metrics`` for Prometheus, behind a bearer token; the request sink that feeds it.

With ``PROMETHEUS_MULTIPROC_DIR`` set (before the workers start) every worker
writes its samples there and the scraped worker reports the sum of all.
Tenant counts are read from the database at scrape time; when it cannot be reached
they are left out and ``tenantry_control_database_up`` says 0, so the scrape itself
still succeeds during the outage it should show.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tenantry.metrics import LATENCY, REQUESTS, TENANT_REQUESTS, TenantLabels
from tenantry.models import Tenant, TenantActivity
from tenantry.outages import is_connection_failure
from tenantry.web import DbSession
from tenantry.web.observe import CLIENT_CLOSED_REQUEST, RequestRecord
from tenantry.web.platform import not_found

log = logging.getLogger("tenantry.metrics")
ACTIVE_WINDOW = timedelta(minutes=15)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
router = APIRouter(include_in_schema=False)


class RequestMetrics:
    """The request sink: counts by route template (never the raw path) and bounded tenants.

    Each series' child is looked up once and kept: its labels (route templates, methods,
    statuses, bounded tenant labels) are few, and ``labels()`` costs more than the count.
    """

    def __init__(self, labels: TenantLabels) -> None:
        self.labels = labels
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._tenants: dict[str, Any] = {}

    async def __call__(self, record: RequestRecord) -> None:
        route = record.route or (
            # Dropped while it waited for its token's turn, before any route was matched.
            "unrouted" if record.status == CLIENT_CLOSED_REQUEST else "unmatched"
        )
        method = record.method if record.method in _METHODS else "other"
        key = (route, method, record.status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                REQUESTS.labels(route=route, method=method, status=str(record.status)),
                LATENCY.labels(route=route),
            )
        series[0].inc()
        series[1].observe(record.duration)
        tenant = self.labels.label(str(record.tenant_id) if record.tenant_id else None)
        if tenant is not None:
            counter = self._tenants.get(tenant)
            if counter is None:
                counter = self._tenants[tenant] = TENANT_REQUESTS.labels(tenant=tenant)
            counter.inc()


class _TenantCounts(Collector):
    """The tenant gauges, or ``None`` for them when the control database is down."""

    def __init__(self, counts: dict[str, int] | None, active: int) -> None:
        self.counts = counts
        self.active = active

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "tenantry_control_database_up",
            "Whether the control database answered this scrape (1) or not (0).",
            value=0 if self.counts is None else 1,
        )
        if self.counts is None:
            return
        by_status = GaugeMetricFamily("tenantry_tenants", "Tenants by status.", labels=["status"])
        for status, n in sorted(self.counts.items()):
            by_status.add_metric([status], n)
        yield by_status
        yield GaugeMetricFamily(
            "tenantry_tenants_active",
            "Tenants with a request in the last 15 minutes.",
            value=self.active,
        )


def _authorized(request: Request) -> bool:
    expected: str = request.app.state.metrics_token
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), expected)


@router.get("/metrics")
def metrics(request: Request, session: DbSession) -> Response:
    """Prometheus text format; without the right bearer token, the 404 of a missing route."""
    if not _authorized(request):
        raise not_found()
    try:
        counts, active = _tenant_counts(session)
    except OperationalError as exc:
        if not is_connection_failure(exc):
            raise
        log.warning("metrics: control database unavailable: %s", type(exc).__name__)
        counts, active = None, 0
        # The failed read's transaction must end here: committed in teardown, it raised
        # PendingRollbackError (a 500) on the first scrape of a connection the server dropped.
        session.rollback()
    extra = CollectorRegistry()
    extra.register(_TenantCounts(counts, active))
    body = _process_metrics() + generate_latest(extra)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.api_route(
    "/metrics", methods=["POST", "PUT", "PATCH", "DELETE", "OPTIONS"], include_in_schema=False
)
def metrics_other_methods() -> None:
    """Another method is a 404 too: a 405 would say the route exists."""
    raise not_found()


def _tenant_counts(session: Session) -> tuple[dict[str, int], int]:
    counts = dict(
        session.execute(select(Tenant.status, func.count()).group_by(Tenant.status)).all()
    )
    since = datetime.now(UTC) - ACTIVE_WINDOW
    active = session.scalar(
        select(func.count(func.distinct(TenantActivity.tenant_id))).where(
            TenantActivity.last_active_at >= since
        )
    )
    return counts, active or 0


_LIVE_FILE = re.compile(r"gauge_live\w*_(\d+)\.db")


def _forget_dead_workers(directory: str) -> None:
    """Drop the live gauges of workers that are gone (a worker killed, then replaced):
    ``livesum`` pool gauges summed a dead worker's pool with the live ones' for ever."""
    from prometheus_client import multiprocess

    pids = {int(m.group(1)) for name in os.listdir(directory) if (m := _LIVE_FILE.fullmatch(name))}
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # alive, another user's


def _process_metrics() -> bytes:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        from prometheus_client import multiprocess

        _forget_dead_workers(directory)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
