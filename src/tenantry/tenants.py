"""Tenant lifecycle and membership management: the rules, enforced in one place."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tenantry import audit
from tenantry.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    TenantNotFound,
    TooManyTenants,
    ValidationFailed,
)
from tenantry.ids import is_user_id
from tenantry.models import Invite, Membership, Tenant, TenantKind, TenantStatus, User
from tenantry.plans.entitlements import catalogue_of
from tenantry.plans.quotas import enforce_seat
from tenantry.roles import Role
from tenantry.slugs import SITE_LABEL, slugify, with_suffix
from tenantry.tenant_writes import lock_tenant_row
from tenantry.text import problem_with_line


def free_slug(session: Session, slug: str) -> str:
    """``slug`` (a canonical one), or it with a random suffix when it is taken or is the
    site's own label (www.<base_domain> is the site: that tenant could never be reached)."""
    candidate = with_suffix(slug) if slug == SITE_LABEL else slug
    while session.scalar(select(Tenant.id).where(Tenant.slug == candidate)) is not None:
        candidate = with_suffix(slug)
    return candidate


def _unique_slug(session: Session, name: str) -> str:
    return free_slug(session, slugify(name))


def checked_name(name: str) -> str:
    """A tenant's name, trimmed: one line of 1 to 200 characters (it reaches mail subjects)."""
    name = name.strip()
    problem = problem_with_line(name)
    if not name:
        problem = "a name is required"
    elif len(name) > 200:
        problem = "a name has at most 200 characters"
    if problem:
        raise ValidationFailed(problem, details={"field": "name"})
    return name


def create_tenant(
    session: Session,
    *,
    owner_id: int,
    name: str,
    kind: TenantKind = TenantKind.PERSONAL,
    owned_limit: int | None = None,
) -> Tenant:
    """Create a tenant with ``owner_id`` as its owner; a user may own several, at most
    ``owned_limit`` (not deleted) when it is given.

    Raises:
        ValidationFailed: the name is not one. TooManyTenants: the owner has enough.
    """
    name = checked_name(name)
    if owned_limit is not None:
        check_owned_limit(session, owner_id, owned_limit)
    catalogue = catalogue_of(session)
    tenant = Tenant(name=name, slug=_unique_slug(session, name), kind=kind.value)
    if catalogue is not None:
        tenant.plan = catalogue.default
    session.add(tenant)
    session.flush()
    session.add(Membership(tenant_id=tenant.id, user_id=owner_id, role=Role.OWNER.value))
    audit.record(session, "tenant.created", tenant_id=tenant.id, actor_id=owner_id, name=name)
    return tenant


def check_owned_limit(session: Session, owner_id: int, limit: int) -> None:
    """Refuse one more tenant for ``owner_id`` (created or restored) past ``limit``.

    Raises:
        TooManyTenants: ``owner_id`` owns ``limit`` tenants that are not deleted.
    """
    # The owner's row is locked first: two creations at once count one after the other.
    session.get(User, owner_id, with_for_update=True)
    owned = session.scalar(
        select(func.count())
        .select_from(Membership)
        .join(Tenant, Tenant.id == Membership.tenant_id)
        .where(
            Membership.user_id == owner_id,
            Membership.role == Role.OWNER.value,
            Tenant.status != TenantStatus.DELETED.value,
        )
    )
    if (owned or 0) >= limit:
        raise TooManyTenants(
            f"an account may own at most {limit} tenants: delete one, or hand one over, first",
            details={"limit": limit},
        )


def get_tenant(session: Session, tenant_id: uuid.UUID) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise TenantNotFound("tenant not found")
    return tenant


def rename_tenant(session: Session, *, tenant_id: uuid.UUID, actor_id: int, name: str) -> Tenant:
    tenant = get_tenant(session, tenant_id)
    name = checked_name(name)
    old, tenant.name = tenant.name, name
    tenant.updated_at = datetime.now(UTC)
    audit.record(
        session, "tenant.renamed", tenant_id=tenant_id, actor_id=actor_id, old=old, new=name
    )
    return tenant


def memberships_of(session: Session, user_id: int) -> list[tuple[Membership, Tenant]]:
    """A user's memberships of tenants that are not deleted, with the tenants, oldest first."""
    rows = session.execute(
        select(Membership, Tenant)
        .join(Tenant, Tenant.id == Membership.tenant_id)
        .where(Membership.user_id == user_id, Tenant.status != TenantStatus.DELETED.value)
        .order_by(Membership.joined_at)
    )
    return [(m, t) for m, t in rows]


def get_membership(session: Session, tenant_id: uuid.UUID, user_id: int) -> Membership | None:
    """The membership, or ``None``; an id beyond the INTEGER user ids cannot be a member.

    PostgreSQL fails a comparison of an INTEGER column with a larger number, so
    such ids are answered here exactly like any id of no member.
    """
    if not is_user_id(user_id):
        return None
    return session.get(Membership, (tenant_id, user_id))


def members(session: Session, tenant_id: uuid.UUID) -> list[tuple[Membership, User]]:
    rows = session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == tenant_id)
        .order_by(Membership.joined_at)
    )
    return [(m, u) for m, u in rows]


def _owner_count(session: Session, tenant_id: uuid.UUID) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.tenant_id == tenant_id, Membership.role == Role.OWNER.value)
        )
        or 0
    )


def _member(session: Session, tenant_id: uuid.UUID, user_id: int) -> Membership:
    membership = get_membership(session, tenant_id, user_id)
    if membership is None:
        raise NotFound("member not found")
    return membership


def change_role(
    session: Session, *, tenant_id: uuid.UUID, actor: Role, actor_id: int, user_id: int, role: Role
) -> Membership:
    """Change a member's role.

    Admins manage members below owner; only owners grant or take ownership; the
    last owner cannot be downgraded.
    """
    lock_tenant_row(session, tenant_id)  # two owners demoting each other: one stays
    target = _member(session, tenant_id, user_id)
    current = Role(target.role)
    if (current is Role.OWNER or role is Role.OWNER) and actor is not Role.OWNER:
        raise PermissionDenied("only an owner can grant or take ownership")
    if current is Role.OWNER and role is not Role.OWNER and _owner_count(session, tenant_id) <= 1:
        raise Conflict("the last owner cannot be downgraded; transfer ownership first")
    if current is role:
        return target  # nothing changed: no event
    target.role = role.value
    revoke_invites_of(session, tenant_id, user_id, role, actor_id=actor_id)
    audit.record(
        session,
        "member.role_changed",
        tenant_id=tenant_id,
        actor_id=actor_id,
        target=f"user:{user_id}",
        old=current.value,
        new=role.value,
    )
    return target


def remove_member(
    session: Session, *, tenant_id: uuid.UUID, actor: Role, actor_id: int, user_id: int
) -> None:
    """Remove a member; removing an owner needs an owner, and never the last one."""
    lock_tenant_row(session, tenant_id)
    target = _member(session, tenant_id, user_id)
    if Role(target.role) is Role.OWNER:
        if actor is not Role.OWNER:
            raise PermissionDenied("only an owner can remove an owner")
        if _owner_count(session, tenant_id) <= 1:
            raise Conflict("the last owner cannot be removed")
    session.delete(target)
    revoke_invites_of(session, tenant_id, user_id, None, actor_id=actor_id)
    audit.record(
        session, "member.removed", tenant_id=tenant_id, actor_id=actor_id, target=f"user:{user_id}"
    )


def leave(session: Session, *, tenant_id: uuid.UUID, user_id: int) -> None:
    """Leave a tenant; never its last owner.

    Every change of owners locks the tenant row first, then counts: two owners leaving at
    once (or demoting, removing each other) would each count the other and leave none.
    """
    lock_tenant_row(session, tenant_id)
    target = _member(session, tenant_id, user_id)
    if Role(target.role) is Role.OWNER and _owner_count(session, tenant_id) <= 1:
        raise Conflict(
            "the last owner cannot leave; transfer ownership or delete the tenant",
            details={"reason": "last_owner"},
        )
    session.delete(target)
    revoke_invites_of(session, tenant_id, user_id, None, actor_id=user_id)
    audit.record(session, "member.left", tenant_id=tenant_id, actor_id=user_id)


def revoke_invites_of(
    session: Session, tenant_id: uuid.UUID, user_id: int, role: Role | None, *, actor_id: int
) -> None:
    """Revoke the open invites ``user_id`` made in the tenant that grant more than ``role``
    (every one when ``None``: no longer a member). Otherwise an admin removed or demoted
    would keep a way back to the old role: an invite made earlier, joined again."""
    made = select(Invite).where(
        Invite.tenant_id == tenant_id, Invite.created_by == user_id, Invite.revoked_at.is_(None)
    )
    now = datetime.now(UTC)
    for invite in session.scalars(made):
        if role is None or not role.at_least(Role(invite.role)):
            invite.revoked_at = now
            audit.record(
                session,
                "invite.revoked",
                tenant_id=tenant_id,
                actor_id=actor_id,
                target=f"invite:{invite.id}",
                reason="its inviter left" if role is None else "its inviter's role was lowered",
            )


def transfer_ownership(
    session: Session, *, tenant_id: uuid.UUID, owner_id: int, new_owner_id: int
) -> None:
    """Make another member the owner; the previous owner becomes an admin."""
    if new_owner_id == owner_id:
        raise ValidationFailed("you already own this tenant", details={"field": "user_id"})
    lock_tenant_row(session, tenant_id)  # the new owner leaving meanwhile: one of the two
    new_owner = _member(session, tenant_id, new_owner_id)
    old_owner = _member(session, tenant_id, owner_id)
    new_owner.role = Role.OWNER.value
    old_owner.role = Role.ADMIN.value
    audit.record(
        session,
        "tenant.ownership_transferred",
        tenant_id=tenant_id,
        actor_id=owner_id,
        target=f"user:{new_owner_id}",
    )


def add_member(
    session: Session, *, tenant_id: uuid.UUID, user_id: int, role: Role, actor_id: int | None
) -> Membership:
    """Add a member; past the plan's member limit raises ``QuotaExceeded`` (tenant row locked)."""
    if get_membership(session, tenant_id, user_id) is not None:
        raise Conflict("already a member of this tenant")
    enforce_seat(session, tenant_id)
    membership = Membership(tenant_id=tenant_id, user_id=user_id, role=role.value)
    session.add(membership)
    audit.record(
        session,
        "member.added",
        tenant_id=tenant_id,
        actor_id=actor_id,
        target=f"user:{user_id}",
        role=role.value,
    )
    return membership
