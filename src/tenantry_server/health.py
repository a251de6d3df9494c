"""``/healthz`` (the process answers) and ``/readyz`` (database reachable, migrations at head,
rate limits able to count)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tenantry.web.deps import get_tenancy
from tenantry.web.routes.admin import operations_of

router = APIRouter(include_in_schema=False)


# HEAD too: some load balancers probe with it (the server sends the headers alone).
@router.api_route("/healthz", methods=["GET", "HEAD"])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.api_route("/readyz", methods=["GET", "HEAD"])
async def readyz(request: Request) -> JSONResponse:
    """503 until the database answers and every migration is applied, and while the rate
    limits fail closed with their storage away (every request would be a 503)."""
    ok, reason = operations_of(request).ready()
    if ok:
        limits_ok, limits_reason = await run_in_threadpool(get_tenancy(request).limits.serving)
        if not limits_ok:
            ok, reason = False, limits_reason
    return JSONResponse(
        {"status": "ready" if ok else "not_ready", "reason": reason}, status_code=200 if ok else 503
    )
