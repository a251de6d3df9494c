"""Prometheus metrics of the service; other modules increment the counters defined here.

Per-tenant labels go through :class:`TenantLabels`, which admits at most
``limit`` tenants (an allow-list first, then the first seen) and folds every
other tenant into ``"other"``: an unbounded tenant label would keep one series
per tenant in memory forever.

Works in prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``
set before the workers start): gauges declare how processes combine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

OTHER = "other"

REQUESTS = Counter(
    "tenantry_http_requests",
    "HTTP requests by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "tenantry_http_request_duration_seconds",
    "Time to answer a request, by route template.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
TENANT_REQUESTS = Counter(
    "tenantry_tenant_requests",
    "Requests per tenant (allow-listed or first-seen tenants; the rest as 'other').",
    ["tenant"],
)
STATEMENT_TIME = Histogram(
    "tenantry_db_statement_duration_seconds",
    "Time of each SQL statement.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
)
POOL_IN_USE = Gauge(
    "tenantry_db_pool_in_use", "Connections checked out of the pool.", multiprocess_mode="livesum"
)
POOL_SIZE = Gauge("tenantry_db_pool_size", "Configured pool size.", multiprocess_mode="livesum")
QUOTA_REFUSALS = Counter(
    "tenantry_quota_refusals", "Writes refused because a tenant reached a quota.", ["resource"]
)
RATE_LIMIT_REFUSALS = Counter(
    "tenantry_rate_limit_refusals", "Requests refused by a rate limit.", ["bucket"]
)


def count_quota_refusal(resource: str) -> None:
    """Call where a quota refuses a write (``resource``: a small fixed set, e.g. a table)."""
    QUOTA_REFUSALS.labels(resource=resource).inc()


def count_rate_limit_refusal(bucket: str) -> None:
    """Call where a rate limit refuses (``bucket``: "login", "register", ...; never a client)."""
    RATE_LIMIT_REFUSALS.labels(bucket=bucket).inc()


class TenantLabels:
    """A tenant label of bounded cardinality: at most ``limit`` tenants get their own series."""

    def __init__(self, limit: int = 50, allow: Iterable[str] = ()) -> None:
        self.allow = frozenset(allow)
        self.limit = max(limit, len(self.allow))
        self._admitted: set[str] = set(self.allow)
        self._lock = threading.Lock()

    def label(self, tenant: str | None) -> str | None:
        """The label for ``tenant``: itself when admitted, ``"other"`` otherwise."""
        if tenant is None:
            return None
        if tenant in self._admitted:
            return tenant
        if self.allow and len(self.allow) >= self.limit:
            return OTHER
        with self._lock:
            if len(self._admitted) < self.limit:
                self._admitted.add(tenant)
                return tenant
        return OTHER

    @property
    def admitted(self) -> frozenset[str]:
        return frozenset(self._admitted)
