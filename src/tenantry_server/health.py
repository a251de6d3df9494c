"""``/healthz`` (the process answers) and ``/readyz`` (database reachable, migrations at head)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tenantry.web.routes.admin import operations_of

router = APIRouter(include_in_schema=False)


# HEAD too: some load balancers probe with it (the server sends the headers alone).
@router.api_route("/healthz", methods=["GET", "HEAD"])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.api_route("/readyz", methods=["GET", "HEAD"])
async def readyz(request: Request) -> JSONResponse:
    """503 until the database answers and every migration is applied (load balancers wait)."""
    ok, reason = operations_of(request).ready()
    return JSONResponse(
        {"status": "ready" if ok else "not_ready", "reason": reason}, status_code=200 if ok else 503
    )
