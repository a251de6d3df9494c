"""Platform admins: the operators who run the service, above every tenant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenantry import accounts, audit
from tenantry.errors import AuthenticationFailed, Conflict, NotFound
from tenantry.models import Membership, Tenant, User, normalize_email
from tenantry.roles import Role
from tenantry.security.passwords import Passwords

OPERATIONS_TENANT = "Platform operations"


def platform_admin(session: Session, user_id: int, session_version: int) -> User | None:
    """The platform admin acting with this token, or ``None``.

    Read on every console request, so a revocation, an erasure or a password
    reset (which ends the token's session) takes effect on the next one.
    """
    try:
        user = accounts.check_session(session, user_id, session_version)
    except AuthenticationFailed:
        return None
    return user if user.is_platform_admin else None


def _user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise NotFound(f"no account with the email {normalize_email(email)}")
    return user


def set_platform_admin(
    session: Session, *, email: str, grant: bool, actor_id: int | None = None
) -> bool:
    """Grant or revoke; returns whether anything changed (an unchanged flag writes no event).

    Raises:
        NotFound: no account has this email.
    """
    user = _user(session, email)
    if user.is_platform_admin == grant:
        return False
    user.is_platform_admin = grant
    audit.record(
        session,
        "platform.admin_granted" if grant else "platform.admin_revoked",
        tenant_id=None,
        actor_id=actor_id,
        target=f"user:{user.id}",
    )
    return True


def create_platform_admin(
    session: Session, passwords: Passwords, *, email: str, password: str
) -> User:
    """A new account that is a platform admin.

    Signing in needs a tenant (tokens carry one), so the account gets a small
    tenant of its own, named :data:`OPERATIONS_TENANT`.

    Raises:
        ValidationFailed: a weak password or a malformed email.
        Conflict: the email already has an account (grant it instead).
    """
    done = accounts.register(
        session,
        passwords,
        email=email,
        password=password,
        tenant_name=OPERATIONS_TENANT,
        verified=True,  # an operator creates it: nothing to confirm
    )
    if done.user is None:
        raise Conflict(
            "an account with this email already exists: make it a platform admin with "
            f"`tenantry admin grant {done.email}`"
        )
    set_platform_admin(session, email=done.user.email, grant=True)
    return done.user


def is_operations_tenant(session: Session, tenant: Tenant) -> bool:
    """Whether ``tenant`` is the one :func:`create_platform_admin` made for an operator to
    sign in with: no customer's household, so billing gives it no trial and no customer."""
    if tenant.name != OPERATIONS_TENANT:
        return False
    owners = select(User.is_platform_admin).join(Membership, Membership.user_id == User.id)
    owners = owners.where(Membership.tenant_id == tenant.id, Membership.role == Role.OWNER.value)
    flags = list(session.scalars(owners))
    return bool(flags) and all(flags)


def platform_admins(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(User.is_platform_admin).order_by(User.id)))
