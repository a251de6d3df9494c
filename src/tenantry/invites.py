"""Invite codes: created by admins, joined atomically, one generic error for every bad code."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tenantry import audit, tenants
from tenantry.errors import Conflict, InvalidInvite, NotFound, PermissionDenied, ValidationFailed
from tenantry.models import Invite, Membership, Tenant, TenantStatus, User, normalize_email
from tenantry.models.user import checked_email
from tenantry.roles import Role

DEFAULT_TTL = timedelta(days=7)
MAX_TTL = timedelta(days=90)


def _normalize_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _digest(code: str) -> str:
    return hashlib.sha256(_normalize_code(code).encode()).hexdigest()


def new_code() -> str:
    """160 random bits from the OS CSPRNG, as eight groups of four base32 characters."""
    raw = base64.b32encode(secrets.token_bytes(20)).decode()
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def described(invite: Invite) -> dict[str, object]:
    """An invite as its admins (the invite list) and its addressee (their data export)
    see it: never its code."""
    return {
        "id": invite.id,
        "role": Role(invite.role),
        "email": invite.email,
        "created_at": invite.created_at,
        "expires_at": invite.expires_at,
        "max_uses": invite.max_uses,
        "uses": invite.uses,
        "revoked": invite.revoked_at is not None,
    }


@dataclass(frozen=True, slots=True)
class InvitePreview:
    tenant_name: str
    inviter: str
    role: Role
    expires_at: datetime  # a person may wait to join: they are told until when they can


def create_invite(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    actor: Role,
    actor_id: int,
    role: Role = Role.MEMBER,
    ttl: timedelta = DEFAULT_TTL,
    max_uses: int = 1,
    email: str | None = None,
) -> tuple[Invite, str]:
    """Create an invite and return it with its code; only the code's hash is stored."""
    if role is Role.OWNER or not actor.at_least(role):
        raise PermissionDenied("you cannot invite with a role above your own, or as owner")
    if not timedelta(minutes=5) <= ttl <= MAX_TTL:
        raise ValidationFailed(
            "expiry must be between 5 minutes and 90 days", details={"field": "expires_in_hours"}
        )
    if not 1 <= max_uses <= 1000:
        raise ValidationFailed("max_uses must be between 1 and 1000", details={"field": "max_uses"})
    code = new_code()
    invite = Invite(
        tenant_id=tenant_id,
        code_hash=_digest(code),
        role=role.value,
        email=checked_email(email) if email else None,
        created_by=actor_id,
        expires_at=datetime.now(UTC) + ttl,
        max_uses=max_uses,
    )
    session.add(invite)
    session.flush()
    audit.record(
        session,
        "invite.created",
        tenant_id=tenant_id,
        actor_id=actor_id,
        target=f"invite:{invite.id}",
        role=role.value,
        max_uses=max_uses,
    )
    return invite, code


def pending_invite(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    email: str,
    role: Role,
    ttl: timedelta,
    created_by: int | None,
) -> tuple[Invite, str]:
    """A single-use invite bound to ``email``, any role included (owner too).

    For platform operations (a tenant import inviting its members back); people
    inviting people go through :func:`create_invite` and its role rules.
    """
    code = new_code()
    invite = Invite(
        tenant_id=tenant_id,
        code_hash=_digest(code),
        role=role.value,
        email=normalize_email(email),
        created_by=created_by,
        expires_at=datetime.now(UTC) + ttl,
        max_uses=1,
    )
    session.add(invite)
    return invite, code


def list_invites(session: Session, tenant_id: uuid.UUID) -> list[Invite]:
    return list(
        session.scalars(
            select(Invite).where(Invite.tenant_id == tenant_id).order_by(Invite.created_at.desc())
        )
    )


def revoke_invite(
    session: Session, *, tenant_id: uuid.UUID, invite_id: uuid.UUID, actor_id: int
) -> None:
    invite = session.get(Invite, invite_id)
    if invite is None or invite.tenant_id != tenant_id:
        raise NotFound("invite not found")
    if invite.revoked_at is None:
        invite.revoked_at = datetime.now(UTC)
        audit.record(
            session,
            "invite.revoked",
            tenant_id=tenant_id,
            actor_id=actor_id,
            target=f"invite:{invite_id}",
        )


def _usable(session: Session, code: str) -> Invite:
    invite = session.scalar(select(Invite).where(Invite.code_hash == _digest(code)))
    now = datetime.now(UTC)
    if (
        invite is None
        or invite.revoked_at is not None
        or invite.expires_at <= now
        or invite.uses >= invite.max_uses
        or session.scalar(select(Tenant.status).where(Tenant.id == invite.tenant_id))
        != TenantStatus.ACTIVE.value
    ):
        raise InvalidInvite()
    return invite


def check_usable(session: Session, code: str, *, email: str) -> uuid.UUID:
    """The tenant ``code`` joins; :class:`InvalidInvite` unless ``email`` could use it now."""
    invite = _usable(session, code)
    if invite.email and invite.email != normalize_email(email):
        raise InvalidInvite()
    return invite.tenant_id


def preview(session: Session, code: str) -> InvitePreview:
    """What a person sees before joining: the tenant's name and who invited them."""
    invite = _usable(session, code)
    tenant = session.get(Tenant, invite.tenant_id)
    inviter = session.get(User, invite.created_by) if invite.created_by else None
    if tenant is None:
        raise InvalidInvite()
    return InvitePreview(
        tenant_name=tenant.name,
        inviter=(inviter.display_name or inviter.email) if inviter else "",
        role=Role(invite.role),
        expires_at=invite.expires_at,
    )


def join(session: Session, *, code: str, user: User) -> Membership:
    """Spend one use of ``code`` and make ``user`` a member.

    The use count is taken with one conditional UPDATE, so of N simultaneous
    joins on an invite with ``max_uses=1`` exactly one succeeds.

    Raises:
        InvalidInvite: invalid, expired, revoked, used up, or for another email.
        Conflict: the user is already a member (no use is spent).
    """
    invite = _usable(session, code)
    if invite.email and invite.email != user.email:
        raise InvalidInvite()
    if tenants.get_membership(session, invite.tenant_id, user.id) is not None:
        raise Conflict("you are already a member of this tenant")
    now = datetime.now(UTC)
    taken = session.execute(
        update(Invite)
        .where(
            Invite.id == invite.id,
            Invite.uses < Invite.max_uses,
            Invite.revoked_at.is_(None),
            Invite.expires_at > now,
        )
        .values(uses=Invite.uses + 1)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidInvite()
    audit.record(
        session,
        "invite.used",
        tenant_id=invite.tenant_id,
        actor_id=user.id,
        target=f"invite:{invite.id}",
    )
    return tenants.add_member(
        session,
        tenant_id=invite.tenant_id,
        user_id=user.id,
        role=Role(invite.role),
        actor_id=user.id,
    )
