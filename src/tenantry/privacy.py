"""A person's rights over their account: a copy of everything about them, and erasure."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from tenantry import audit, retention, tenants
from tenantry.errors import AuthenticationFailed, Conflict, PermissionDenied
from tenantry.invites import described
from tenantry.models import (
    AuditEvent,
    Invite,
    Membership,
    PasswordReset,
    RefreshToken,
    Tenant,
    TenantStatus,
    User,
)
from tenantry.models.user import ERASED_DOMAIN, NO_PASSWORD, email_spellings
from tenantry.roles import Role
from tenantry.security.passwords import Passwords

USER_EXPORT_FORMAT = "tenantry-user-export/1"


def erased_address() -> str:
    """An erased account's address: random, so nothing leads from it to the person."""
    return f"erased-{secrets.token_hex(8)}@{ERASED_DOMAIN}"


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.is_erased:
        raise AuthenticationFailed("this account no longer exists")
    return user


def _about(user_id: int) -> Any:
    """Audit events by the user, or naming them as their target."""
    return or_(AuditEvent.actor_id == user_id, AuditEvent.target == f"user:{user_id}")


def user_export(session: Session, user_id: int) -> dict[str, Any]:
    """Everything the instance holds about one person, as a JSON-ready document.

    Profile, memberships (deleted tenants included, while they exist), every invite
    addressed to them (used, expired and revoked ones too, with their state), sign-in
    sessions (never the token hashes) and every audit event they caused or were the
    target of. Tenant data they entered belongs to
    the tenant: its owners export that (``GET /api/export``).
    """
    user = _user(session, user_id)
    memberships = session.execute(
        select(Membership, Tenant)
        .join(Tenant, Tenant.id == Membership.tenant_id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.joined_at)
    )
    invites = session.scalars(
        select(Invite).where(Invite.email == user.email).order_by(Invite.created_at)
    )
    tokens = session.scalars(
        select(RefreshToken)
        .where(RefreshToken.user_id == user_id)
        .order_by(RefreshToken.created_at)
    )
    events = session.scalars(
        select(AuditEvent).where(_about(user_id)).order_by(AuditEvent.created_at, AuditEvent.id)
    )
    return {
        "format": USER_EXPORT_FORMAT,
        "exported_at": datetime.now(UTC),
        "profile": {
            "id": user.id,
            "email": user.email,
            "display_name": user.display_name,
            "is_platform_admin": user.is_platform_admin,
            "created_at": user.created_at,
        },
        "memberships": [
            {
                "tenant_id": t.id,
                "tenant_name": t.name,
                "tenant_slug": t.slug,
                "tenant_status": t.status,
                "role": m.role,
                "joined_at": m.joined_at,
            }
            for m, t in memberships
        ],
        "invites_to_me": [{"tenant_id": i.tenant_id, **described(i)} for i in invites],
        "sessions": [
            {
                "tenant_id": t.tenant_id,
                "created_at": t.created_at,
                "expires_at": t.expires_at,
                "used_at": t.used_at,
                "revoked_at": t.revoked_at,
            }
            for t in tokens
        ],
        "audit_events": [
            {
                "action": e.action,
                "tenant_id": e.tenant_id,
                "as": "actor" if e.actor_id == user_id else "target",
                "target": e.target,
                "details": e.details,
                "created_at": e.created_at,
            }
            for e in events
        ],
    }


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an erasure did: the pseudonym standing for the person in the audit trail, the
    tenants left and those deleted with them."""

    pseudonym: str
    left: list[str]
    deleted: list[str]


def _blocking(session: Session, user_id: int) -> list[Tenant]:
    """Active tenants where the user is the only owner but not the only member.

    The tenants' rows are locked first (in one order), as every change of owners does
    (:mod:`tenantry.tenants`): two owners erasing at once would each count the other.
    """
    owned = session.scalars(
        select(Tenant)
        .join(Membership, Membership.tenant_id == Tenant.id)
        .where(
            Membership.user_id == user_id,
            Membership.role == Role.OWNER.value,
            Tenant.status == TenantStatus.ACTIVE.value,
        )
        .order_by(Tenant.id)
        .with_for_update(of=Tenant)
    ).all()
    blocked = []
    for tenant in owned:
        roles = session.scalars(
            select(Membership.role).where(Membership.tenant_id == tenant.id)
        ).all()
        if len(roles) > 1 and roles.count(Role.OWNER.value) == 1:
            blocked.append(tenant)
    return blocked


def erase_user(
    session: Session,
    passwords: Passwords,
    *,
    user_id: int,
    password: str,
    grace: timedelta = retention.DEFAULT_GRACE,
) -> Erasure:
    """Erase an account, after the person proves it is theirs with the password.

    Their memberships go; tenants where they were the only member are deleted
    (softly: purged after ``grace``, like any deletion); their refresh tokens, open
    reset links and the invites addressed to them are deleted; in the audit trail
    they become a random pseudonym (same person, no longer named). The user row is emptied of
    everything personal and kept as a placeholder, so its id is never reused.

    Raises:
        PermissionDenied: wrong password.
        Conflict: the last owner of a tenant shared with others; ``details`` names
            those tenants (hand them over or delete them first).
    """
    user = _user(session, user_id)
    if not passwords.verify(user.password_hash, password):
        raise PermissionDenied("wrong password: erasing an account needs its password")
    blocked = _blocking(session, user_id)
    if blocked:
        names = ", ".join(t.name for t in blocked)
        raise Conflict(
            f"you are the last owner of {names}, which others still use: make another member "
            "the owner, or delete it, before erasing your account",
            details={"tenants": [{"id": str(t.id), "name": t.name} for t in blocked]},
        )
    left: list[str] = []
    deleted: list[str] = []
    for membership, tenant in session.execute(
        select(Membership, Tenant)
        .join(Tenant, Tenant.id == Membership.tenant_id)
        .where(Membership.user_id == user_id)
    ).all():
        alone = (
            session.scalar(
                select(Membership.user_id)
                .where(Membership.tenant_id == tenant.id, Membership.user_id != user_id)
                .limit(1)
            )
            is None
        )
        if alone and tenant.status == TenantStatus.ACTIVE.value:
            retention.delete_tenant(
                session, tenant_id=tenant.id, actor_id=user_id, confirm=tenant.slug, grace=grace
            )
            deleted.append(str(tenant.id))
        else:
            audit.record(session, "member.left", tenant_id=tenant.id, actor_id=user_id, erased=True)
            left.append(str(tenant.id))
        session.delete(membership)
        tenants.revoke_invites_of(session, tenant.id, user_id, None, actor_id=user_id)
    session.flush()
    pseudonym = "erased-" + secrets.token_hex(8)
    session.execute(
        update(AuditEvent)
        .where(AuditEvent.target == f"user:{user_id}")
        .values(target=pseudonym)
        .execution_options(synchronize_session=False)
    )
    # A failed sign-in keeps the address typed (tenantry.accounts), whether or not it
    # named an account then: it names the person as much as a target does.
    session.execute(
        update(AuditEvent)
        .where(
            AuditEvent.action == "user.sign_in_failed",
            AuditEvent.details["email"].as_string().in_(email_spellings(user.email)),
        )
        .values(target=pseudonym, details={})
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(AuditEvent)
        .where(AuditEvent.actor_id == user_id)
        .values(actor_id=None, actor_pseudonym=pseudonym)
        .execution_options(synchronize_session=False)
    )
    # Every session ends now (access tokens die on their next request: no user, no member).
    session.execute(
        delete(RefreshToken)
        .where(RefreshToken.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(Invite)
        .where(Invite.email == user.email)
        .execution_options(synchronize_session=False)
    )
    # A reset link mailed before would give the placeholder a password again.
    session.execute(
        delete(PasswordReset)
        .where(PasswordReset.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    # The row stays, nameless, so that its id is never given to another person (an old
    # access token naming it must not become theirs); it can neither sign in nor act.
    # Its own random address, not the pseudonym: the trail's name must not lead to the id
    # (the id stays on the tenants' rows and in exports made before).
    user.email = erased_address()
    user.password_hash = NO_PASSWORD
    user.display_name = ""
    user.is_platform_admin = False
    user.session_version += 1  # every access token of the account ends now
    user.created_at = datetime.now(UTC)
    session.flush()
    audit.record(session, "user.erased", tenant_id=None, actor_id=None, target=pseudonym)
    return Erasure(pseudonym, left, deleted)
