"""``GET /metrics`` for Prometheus, behind a bearer token; the request sink that feeds it.

With ``PROMETHEUS_MULTIPROC_DIR`` set (before the workers start) every worker
writes its samples there and the scraped worker reports the sum of all.
Tenant counts are read from the database at scrape time.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from tenantry.metrics import LATENCY, REQUESTS, TENANT_REQUESTS, TenantLabels
from tenantry.models import Tenant, TenantActivity
from tenantry.web import DbSession
from tenantry.web.observe import RequestRecord
from tenantry.web.platform import not_found

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
        route = record.route or "unmatched"
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
    def __init__(self, counts: dict[str, int], active: int) -> None:
        self.counts = counts
        self.active = active

    def collect(self) -> Iterator[GaugeMetricFamily]:
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
    counts = dict(
        session.execute(select(Tenant.status, func.count()).group_by(Tenant.status)).all()
    )
    since = datetime.now(UTC) - ACTIVE_WINDOW
    active = session.scalar(
        select(func.count(func.distinct(TenantActivity.tenant_id))).where(
            TenantActivity.last_active_at >= since
        )
    )
    extra = CollectorRegistry()
    extra.register(_TenantCounts(counts, active or 0))
    body = _process_metrics() + generate_latest(extra)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _process_metrics() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
