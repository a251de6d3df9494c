"""Invite codes: create, list, revoke (admins); preview and join (anyone signed in)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Request, Response

from tenantry import accounts, invites
from tenantry.web import account_flows
from tenantry.web.deps import AdminContext, CurrentClaims, DbSession, get_tenancy
from tenantry.web.schemas import (
    InviteCreatedOut,
    InviteIn,
    InviteOut,
    InvitePreviewOut,
    JoinIn,
    TokenPair,
)

router = APIRouter(prefix="/api", tags=["invites"])


@router.post("/tenant/invites", status_code=201)
def create_invite(
    body: InviteIn, request: Request, ctx: AdminContext, session: DbSession
) -> InviteCreatedOut:
    """Create an invite; the code is in this response only (and, with an email, in a mail)."""
    invite, code = account_flows.invite(
        request,
        session,
        ctx,
        role=body.role,
        ttl=timedelta(hours=body.expires_in_hours),
        max_uses=body.max_uses,
        email=body.email,
    )
    return InviteCreatedOut(code=code, **invites.described(invite))


@router.get("/tenant/invites")
def list_invites(ctx: AdminContext, session: DbSession) -> list[InviteOut]:
    return [InviteOut(**invites.described(i)) for i in invites.list_invites(session, ctx.tenant_id)]


@router.delete("/tenant/invites/{invite_id}", status_code=204)
def revoke_invite(invite_id: uuid.UUID, ctx: AdminContext, session: DbSession) -> Response:
    invites.revoke_invite(
        session, tenant_id=ctx.tenant_id, invite_id=invite_id, actor_id=ctx.user_id or 0
    )
    return Response(status_code=204)


@router.post("/invites/preview")
def preview_invite(body: JoinIn, request: Request, session: DbSession) -> InvitePreviewOut:
    """The tenant's name, the inviter and until when, before joining. Rate limited like join."""
    tenancy = get_tenancy(request)
    tenancy.limits.hit(tenancy.config.join_rate, "join", request)
    found = invites.preview(session, body.code)
    return InvitePreviewOut(
        tenant_name=found.tenant_name,
        inviter=found.inviter,
        role=found.role,
        expires_at=found.expires_at,
    )


@router.post("/invites/join")
def join(body: JoinIn, request: Request, session: DbSession, claims: CurrentClaims) -> TokenPair:
    """Join the invite's tenant and return tokens for it."""
    tenancy = get_tenancy(request)
    tenancy.limits.hit(tenancy.config.join_rate, "join", request)
    user = accounts.get_user(session, claims.user_id)
    membership = invites.join(session, code=body.code, user=user)
    return tenancy.issue_tokens(session, user.id, membership.tenant_id)
