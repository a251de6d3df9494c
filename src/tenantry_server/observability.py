"""Wiring the request record into logs, metrics and tenant activity for the server."""

from __future__ import annotations

from fastapi import FastAPI

from tenantry.activity import ActivityCounter
from tenantry.metrics import TenantLabels
from tenantry.web import Tenancy, add_routes, in_thread
from tenantry.web.observe import RequestRecord, install_observe
from tenantry_server import metrics
from tenantry_server.logs import log_request
from tenantry_server.settings import Settings


class ActivitySink:
    """Counts each tenant's requests; adds them to the database every few seconds."""

    def __init__(self, tenancy: Tenancy, counter: ActivityCounter) -> None:
        self.tenancy = tenancy
        self.counter = counter

    async def __call__(self, record: RequestRecord) -> None:
        if record.tenant_id is not None and record.status < 500:
            self.counter.count(record.tenant_id)
        if self.counter.due():
            await in_thread(self._flush)

    def _flush(self) -> None:
        with self.tenancy.db.session() as session:
            self.counter.flush(session)


def install(app: FastAPI, tenancy: Tenancy, settings: Settings) -> None:
    """``/metrics`` and the outermost observing middleware (add it last; the health routes
    come first, in :func:`tenantry_server.app.create_app`)."""
    app.state.metrics_token = settings.metrics_bearer()
    add_routes(app, metrics.router)
    labels = TenantLabels(settings.metrics_tenant_limit, settings.metrics_tenant_allow())
    counter = ActivityCounter(settings.activity_flush_seconds)
    app.state.activity = counter
    install_observe(
        app, [log_request, metrics.RequestMetrics(labels), ActivitySink(tenancy, counter)]
    )
