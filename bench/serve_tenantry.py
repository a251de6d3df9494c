"""Run the tenantry server for the benchmark: ``python -m bench.serve_tenantry PORT [WORKERS]``.

Settings come from the environment as for ``tenantry serve``. The app is built by
:func:`create` (an app factory, so uvicorn can start several worker processes), with
meterbook plus a bench-only plugin: ``GET /api/bench/slow?n=N`` runs a query that is
slow on purpose, as the calling tenant, through the same session dependency and in the
same kind of route (a ``def`` route, run in a worker thread) as meterbook's; the
fairness benchmark times other tenants' requests and ``/healthz`` while it runs. Every
other benchmark starts the shipped ``tenantry serve``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from fastapi import APIRouter, FastAPI, Query
from sqlalchemy import text

from tenantry.db import Database
from tenantry.runtime import freeze_startup_objects
from tenantry.web import DbSession, Tenancy, ViewerContext
from tenantry_server.app import create_app, default_plugins
from tenantry_server.settings import Settings

# SQLite: a recursive count, CPU-bound inside SQLite (n ≈ 10M rows a few seconds here).
# PostgreSQL: pg_sleep, the server waits n milliseconds.
_SQLITE_SLOW = text(
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < :n)"
    " SELECT count(*) FROM c"
)
_PG_SLOW = text("SELECT pg_sleep(:n / 1000.0)::text || ''")

router = APIRouter(prefix="/api/bench")


@router.get("/slow")
def slow(
    ctx: ViewerContext, session: DbSession, n: Annotated[int, Query(ge=1)] = 1000
) -> dict[str, Any]:
    query = _PG_SLOW if session.get_bind().dialect.name == "postgresql" else _SQLITE_SLOW
    return {"result": str(session.execute(query, {"n": n}).scalar())}


class SlowRoutePlugin:
    """Bench-only: the deliberately slow request. Never part of the shipped server."""

    name = "bench-slow"

    @property
    def migrations(self) -> Sequence[Path]:
        return []

    def install(self, app: FastAPI, tenancy: Tenancy) -> None:
        app.include_router(router)

    def seed_demo(self, db: Database, tenancy: Tenancy) -> list[str]:
        return []


def create() -> FastAPI:
    app = create_app(Settings(), [*default_plugins(), SlowRoutePlugin()])
    freeze_startup_objects()  # as `tenantry serve` does
    return app


def main() -> None:
    port = int(sys.argv[1])
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    uvicorn.run(
        "bench.serve_tenantry:create",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
