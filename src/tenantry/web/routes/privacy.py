"""``GET /api/me/export`` and ``POST /api/me/erase``: a person's own data, and erasure.

Both act on the caller of the access token only: there is no user id to name.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import Field

from tenantry import privacy
from tenantry.web.deps import CurrentClaims, DbSession, get_tenancy
from tenantry.web.schemas import Input

router = APIRouter(prefix="/api", tags=["accounts"])


class EraseIn(Input):
    password: str = Field(min_length=1, max_length=1024)


def user_export_response(session: DbSession, user_id: int) -> Response:
    """The person's export document as a download (one JSON document, small)."""
    body = orjson.dumps(privacy.user_export(session, user_id))
    name = f"tenantry-my-data-{datetime.now(UTC):%Y%m%d}.json"
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/me/export")
def export_me(session: DbSession, claims: CurrentClaims) -> Response:
    """Everything about the caller: profile, memberships, sessions, audit events."""
    return user_export_response(session, claims.user_id)


@router.post("/me/erase", status_code=204)
def erase_me(
    body: EraseIn, request: Request, session: DbSession, claims: CurrentClaims
) -> Response:
    """Erase the caller's account (password required; 409 while they are a shared
    tenant's last owner)."""
    tenancy = get_tenancy(request)
    tenancy.limits.hit(tenancy.config.login_rate, "login", request)
    privacy.erase_user(
        session,
        tenancy.passwords,
        user_id=claims.user_id,
        password=body.password,
        grace=tenancy.config.deletion_grace,
    )
    return Response(status_code=204)
