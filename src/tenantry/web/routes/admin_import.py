"""``POST /api/admin/tenants/import``: a platform admin recreates a tenant from its export.

Behind the platform gate (:mod:`tenantry.web.platform`): anyone else meets a
missing route's 404, by any method, before the body is read.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from tenantry.models import Invite, Tenant, User
from tenantry.roles import Role
from tenantry.tenant_import import ImportResult, import_tenant
from tenantry.web.deps import DbSession, get_tenancy
from tenantry.web.offload import in_thread
from tenantry.web.platform import PlatformAdmin
from tenantry.web.routes.admin import GATE, PREFIX

router = APIRouter(prefix=PREFIX, tags=["platform admin"], dependencies=GATE)


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


class ImportedPersonOut(BaseModel):
    """Someone the rows name who is not a member: matched, created, or "none"."""

    email: str
    status: str
    user_id: int | None


class ImportOut(BaseModel):
    tenant_id: uuid.UUID
    slug: str
    plan: str
    rows: dict[str, int]
    members: list[ImportedMemberOut]
    people: list[ImportedPersonOut]
    checks: list[CheckOut]


def _import(
    request: Request,
    session: Session,
    document: bytes,
    admin: User,
    create_accounts: bool,
    plan: str | None,
) -> ImportResult:
    mail = get_tenancy(request).mail

    def mail_invite(invite: Invite, code: str, tenant: Tenant) -> None:
        # Queued in the import's transaction: an import that rolls back mails nobody.
        assert invite.email is not None  # an import's invites are bound to an address
        mail.invitation(
            session,
            email=invite.email,
            code=code,
            tenant_name=tenant.name,
            inviter=admin.display_name or admin.email,
            role=Role(invite.role),
            expires_at=invite.expires_at,
        )

    return import_tenant(
        session,
        document,
        actor_id=admin.id,
        create_accounts=create_accounts,
        on_invite=mail_invite,
        plan=plan,
    )


@router.post("/tenants/import", status_code=201)
async def import_document(
    request: Request,
    admin: PlatformAdmin,
    session: DbSession,
    create_accounts: bool = False,
    plan: str | None = None,
) -> ImportOut:
    """The body is the export document itself (``application/json``), up to the body limit;
    larger documents go through ``tenantry tenants import``. Members without an account
    here are mailed their invite. ``plan``: the plan the tenant gets here, instead of its
    own (which must be offered here, as the tenant must fit it). ``create_accounts``: see
    :func:`tenantry.tenant_import.import_tenant`."""
    document = await request.body()
    result = await in_thread(_import, request, session, document, admin, create_accounts, plan)
    return ImportOut(
        tenant_id=result.tenant_id,
        slug=result.slug,
        plan=result.plan,
        rows=result.rows,
        members=[ImportedMemberOut(**asdict(m)) for m in result.members],
        people=[ImportedPersonOut(**asdict(p)) for p in result.people],
        checks=[
            CheckOut(name=c.name, ok=c.ok, detail=c.detail) for c in result.verification.checks
        ],
    )
