"""Deleted tenants an owner can still restore: list them, restore one."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request

from tenantry import retention
from tenantry.roles import Role
from tenantry.web.deps import CurrentClaims, DbSession, get_tenancy
from tenantry.web.schemas import TenantOut, TokenPair

router = APIRouter(prefix="/api", tags=["tenants"])


class DeletedTenantOut(TenantOut):
    deleted_at: datetime | None
    purge_after: datetime | None


@router.get("/tenants/deleted")
def deleted_tenants(session: DbSession, claims: CurrentClaims) -> list[DeletedTenantOut]:
    """The caller's deleted tenants (as owner) that can still be restored."""
    return [
        DeletedTenantOut(
            **TenantOut.of(t, Role.OWNER).model_dump(),
            deleted_at=t.deleted_at,
            purge_after=t.purge_after,
        )
        for t in retention.restorable(session, claims.user_id)
    ]


@router.post("/tenants/{tenant_id}/restore")
def restore(
    tenant_id: uuid.UUID, request: Request, session: DbSession, claims: CurrentClaims
) -> TokenPair:
    """Restore a deleted tenant within its grace period; tokens for it are returned."""
    tenancy = get_tenancy(request)
    retention.restore_tenant(
        session,
        tenant_id=tenant_id,
        user_id=claims.user_id,
        owned_limit=tenancy.config.max_owned_tenants,
    )
    return tenancy.issue_tokens(session, claims.user_id, tenant_id)
