"""``POST /api/admin/tenants/import``: a platform admin recreates a tenant from its export.

Anyone else - signed out, or signed in without ``User.is_platform_admin`` - gets
the same 404 as a route that does not exist: the console is not advertised.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from tenantry.errors import AuthenticationFailed
from tenantry.models import User
from tenantry.tenant_import import import_tenant
from tenantry.web.deps import DbSession, bearer_token, get_tenancy

router = APIRouter(prefix="/api/admin", tags=["admin"], include_in_schema=False)


async def _platform_admin(request: Request, session: DbSession) -> User:
    token = bearer_token(request)
    try:
        claims = get_tenancy(request).tokens.verify(token) if token else None
    except AuthenticationFailed:
        claims = None
    user = session.get(User, claims.user_id) if claims else None
    if user is None or not user.is_platform_admin or user.is_erased:
        raise HTTPException(status_code=404)  # exactly what an unknown route answers
    return user


PlatformAdmin = Annotated[User, Depends(_platform_admin)]


class CheckOut(BaseModel):
    name: str
    ok: bool
    detail: str


class ImportedMemberOut(BaseModel):
    email: str
    role: str
    status: str
    user_id: int | None
    invite_code: str | None


class ImportOut(BaseModel):
    tenant_id: uuid.UUID
    slug: str
    rows: dict[str, int]
    members: list[ImportedMemberOut]
    checks: list[CheckOut]


@router.api_route("/tenants/import", methods=["GET", "PUT", "PATCH", "DELETE"])
async def other_methods() -> None:
    """Not 405: that would tell a stranger the route exists."""
    raise HTTPException(status_code=404)


@router.post("/tenants/import", status_code=201)
async def import_document(request: Request, admin: PlatformAdmin, session: DbSession) -> ImportOut:
    """The body is the export document itself (``application/json``), up to the body limit;
    larger documents go through ``tenantry tenants import``."""
    result = import_tenant(session, await request.body(), actor_id=admin.id)
    return ImportOut(
        tenant_id=result.tenant_id,
        slug=result.slug,
        rows=result.rows,
        members=[ImportedMemberOut(**asdict(m)) for m in result.members],
        checks=[
            CheckOut(name=c.name, ok=c.ok, detail=c.detail) for c in result.verification.checks
        ],
    )
