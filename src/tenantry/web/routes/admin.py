"""``/api/admin``: the operator console's data as JSON, for platform admins only.

Every route here sits behind :data:`~tenantry.web.platform.PlatformAdmin`
(router dependency), so anyone else gets a missing route's 404. Another module
adds routes to the same prefix with its own ``APIRouter(prefix=PREFIX,
dependencies=GATE)``; the route walk in tests/isolation checks them all.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from tenantry import audit, fleet, retention, tenants
from tenantry.models import AuditEvent, TenantStatus
from tenantry.operations import Operations
from tenantry.placement.moves import PlacementView, placement_view, placement_views
from tenantry.web.deps import DbSession, get_tenancy
from tenantry.web.placement_schemas import PlacementOut
from tenantry.web.platform import PlatformAdmin, require_platform_admin
from tenantry.web.schemas import MemberOut

PREFIX = "/api/admin"
GATE = [Depends(require_platform_admin)]
router = APIRouter(prefix=PREFIX, tags=["platform admin"], dependencies=GATE)


def operations_of(request: Request) -> Operations:
    """The app's :class:`Operations` (the server sets one; a bare host gets one made here)."""
    ops: Operations | None = getattr(request.app.state, "operations", None)
    if ops is None:
        ops = Operations(get_tenancy(request).db)
        request.app.state.operations = ops
    return ops


class TenantSummaryOut(BaseModel):
    id: uuid.UUID
    slug: str
    name: str
    kind: str
    plan: str
    status: str
    created_at: datetime
    members: int
    rows: dict[str, int]
    total_rows: int
    bytes: int | None
    requests_this_period: int
    last_active_at: datetime | None
    usage: dict[str, Any]
    placement: PlacementOut | None = None

    @classmethod
    def of(cls, s: fleet.TenantSummary, placement: PlacementView | None = None) -> TenantSummaryOut:
        return cls(
            id=s.id,
            slug=s.slug,
            name=s.name,
            kind=s.kind,
            plan=s.plan,
            status=s.status,
            created_at=s.created_at,
            members=s.members,
            rows=s.rows,
            total_rows=s.total_rows,
            bytes=s.bytes,
            requests_this_period=s.requests,
            last_active_at=s.last_active_at,
            usage=s.usage,
            placement=PlacementOut.of_view(placement) if placement else None,
        )


class TenantPageOut(BaseModel):
    items: list[TenantSummaryOut]
    total: int
    next_cursor: str | None


class AuditEventOut(BaseModel):
    id: int
    action: str
    actor_id: int | None
    actor_pseudonym: str | None = None
    target: str | None
    details: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, e: AuditEvent) -> AuditEventOut:
        return cls(
            id=e.id,
            action=e.action,
            actor_id=e.actor_id,
            actor_pseudonym=e.actor_pseudonym,
            target=e.target,
            details=e.details,
            created_at=e.created_at,
        )


class TenantDetailOut(BaseModel):
    tenant: TenantSummaryOut
    members: list[MemberOut]
    audit: list[AuditEventOut]


class StatementOut(BaseModel):
    sql: str
    calls: int
    max_ms: float
    mean_ms: float


class HealthOut(BaseModel):
    backend: str
    reachable: bool
    pool_in_use: int | None
    pool_size: int | None
    migrations_expected: list[str]
    migrations_current: list[str]
    at_head: bool
    slowest: list[StatementOut]


class DoctorOut(BaseModel):
    ok: bool
    findings: list[dict[str, str | None]]


@router.get("/tenants")
def list_tenants(
    request: Request,
    admin: PlatformAdmin,
    session: DbSession,
    q: str = Query(default="", max_length=200),
    sort: Literal["created", "name", "slug"] = "created",
    order: Literal["asc", "desc"] = "desc",
    cursor: str | None = Query(default=None, max_length=500),
    limit: int = Query(default=50, ge=1, le=fleet.MAX_PAGE),
) -> TenantPageOut:
    page = fleet.list_tenants(
        session,
        actor_id=admin.id,
        sizes=operations_of(request).sizes,
        q=q,
        sort=sort,
        descending=order == "desc",
        cursor=cursor,
        limit=limit,
    )
    where = placement_views(session, [s.id for s in page.items])
    return TenantPageOut(
        items=[TenantSummaryOut.of(s, where[s.id]) for s in page.items],
        total=page.total,
        next_cursor=page.next_cursor,
    )


@router.get("/tenants/{tenant_id}")
def tenant_detail(
    tenant_id: uuid.UUID, request: Request, admin: PlatformAdmin, session: DbSession
) -> TenantDetailOut:
    summary = fleet.tenant_summary(
        session,
        tenant_id,
        actor_id=admin.id,
        sizes=operations_of(request).sizes,
    )
    return TenantDetailOut(
        tenant=TenantSummaryOut.of(summary, placement_view(session, tenant_id)),
        members=[MemberOut.of(m, u) for m, u in tenants.members(session, tenant_id)],
        audit=[AuditEventOut.of(e) for e in audit.events(session, tenant_id, limit=50)],
    )


@router.get("/tenants/{tenant_id}/audit")
def tenant_audit(
    tenant_id: uuid.UUID,
    request: Request,
    admin: PlatformAdmin,
    session: DbSession,
    action: str | None = Query(default=None, max_length=64),
    before: int | None = Query(default=None, ge=1),
    limit: int = Query(default=50, ge=1, le=500),
) -> list[AuditEventOut]:
    tenants.get_tenant(session, tenant_id)
    audit.record(session, "platform.audit_read", tenant_id=tenant_id, actor_id=admin.id)
    found = audit.events(
        session, tenant_id, audit.AuditFilter(action=action), before_id=before, limit=limit
    )
    return [AuditEventOut.of(e) for e in found]


@router.post("/tenants/{tenant_id}/suspend", status_code=204)
def suspend(tenant_id: uuid.UUID, admin: PlatformAdmin, session: DbSession) -> Response:
    fleet.set_status(session, tenant_id=tenant_id, actor_id=admin.id, status=TenantStatus.SUSPENDED)
    return Response(status_code=204)


@router.post("/tenants/{tenant_id}/reactivate", status_code=204)
def reactivate(tenant_id: uuid.UUID, admin: PlatformAdmin, session: DbSession) -> Response:
    fleet.set_status(session, tenant_id=tenant_id, actor_id=admin.id, status=TenantStatus.ACTIVE)
    return Response(status_code=204)


@router.delete("/tenants/{tenant_id}", status_code=204)
def delete_tenant(
    tenant_id: uuid.UUID,
    request: Request,
    admin: PlatformAdmin,
    session: DbSession,
    confirm: str = Query(default="", max_length=200),
) -> Response:
    """Delete the tenant (soft, restorable for the grace period); ``confirm`` repeats its slug."""
    retention.delete_tenant(
        session,
        tenant_id=tenant_id,
        actor_id=admin.id,
        confirm=confirm,
        grace=get_tenancy(request).config.deletion_grace,
    )
    return Response(status_code=204)


@router.get("/health")
def health(request: Request, admin: PlatformAdmin) -> HealthOut:
    h = operations_of(request).health()
    return HealthOut(
        backend=h.backend,
        reachable=h.reachable,
        pool_in_use=h.pool.in_use,
        pool_size=h.pool.size,
        migrations_expected=list(h.migrations.expected if h.migrations else ()),
        migrations_current=list(h.migrations.current if h.migrations else ()),
        at_head=bool(h.migrations and h.migrations.at_head),
        slowest=[
            StatementOut(
                sql=s.sql, calls=s.calls, max_ms=s.max_seconds * 1000, mean_ms=s.mean_seconds * 1000
            )
            for s in h.slowest
        ],
    )


@router.post("/doctor")
def doctor(request: Request, admin: PlatformAdmin, session: DbSession) -> DoctorOut:
    audit.record(session, "platform.doctor_run", tenant_id=None, actor_id=admin.id)
    report = operations_of(request).doctor()
    return DoctorOut(ok=report.ok, findings=[f.to_dict() for f in report.findings])
