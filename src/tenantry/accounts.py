"""Accounts: registration (with a personal tenant or an invite) and credential checks."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tenantry import audit, invites, tenants
from tenantry.errors import AuthenticationFailed, Conflict, ValidationFailed
from tenantry.models import Membership, TenantKind, User, normalize_email
from tenantry.security.passwords import Passwords

MIN_PASSWORD = 10


def register(
    session: Session,
    passwords: Passwords,
    *,
    email: str,
    password: str,
    display_name: str = "",
    invite_code: str | None = None,
    tenant_name: str | None = None,
    default_tenant_name: Callable[[str], str] = str,
    tenant_kind: TenantKind = TenantKind.PERSONAL,
) -> tuple[User, Membership]:
    """Create a user and, in the same transaction, a tenant of their own or an invite membership.

    Without an invite, the new tenant is named ``tenant_name`` or, when that is
    empty, ``default_tenant_name(display_name)``, and is of ``tenant_kind``.

    Raises:
        ValidationFailed: a weak password or an empty email.
        Conflict: the email already has an account.
        InvalidInvite: the code cannot be used (nothing is created).
    """
    canonical = normalize_email(email)
    if "@" not in canonical:
        raise ValidationFailed("enter a valid email address", details={"field": "email"})
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            f"the password must have at least {MIN_PASSWORD} characters",
            details={"field": "password"},
        )
    if session.scalar(select(User.id).where(User.email == canonical)) is not None:
        raise Conflict("an account with this email already exists")
    user = User(
        email=canonical,
        password_hash=passwords.hash(password),
        display_name=display_name.strip() or canonical.split("@")[0],
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict("an account with this email already exists") from exc
    audit.record(session, "user.registered", tenant_id=None, actor_id=user.id)
    if invite_code:
        membership = invites.join(session, code=invite_code, user=user)
    else:
        name = (tenant_name or "").strip() or default_tenant_name(user.display_name)
        tenant = tenants.create_tenant(session, owner_id=user.id, name=name, kind=tenant_kind)
        membership = tenants.get_membership(session, tenant.id, user.id)  # type: ignore[assignment]
    return user, membership


def authenticate(session: Session, passwords: Passwords, *, email: str, password: str) -> User:
    """Return the user for these credentials; unknown email and wrong password look the same."""
    canonical = normalize_email(email)
    user = session.scalar(select(User).where(User.email == canonical))
    if not passwords.verify(user.password_hash if user else None, password) or user is None:
        # Committed now: the error rolls the request back. No password material is kept.
        audit.record(
            session,
            "user.sign_in_failed",
            tenant_id=None,
            actor_id=None,
            target=f"user:{user.id}" if user else None,
            email=canonical[:320],
        )
        session.commit()
        raise AuthenticationFailed("wrong email or password")
    if passwords.needs_rehash(user.password_hash):  # an imported bcrypt/PBKDF2 hash
        user.password_hash = passwords.hash(password)
    audit.record(
        session,
        "user.signed_in",
        tenant_id=default_tenant(session, user.id),
        actor_id=user.id,
        target=f"user:{user.id}",
    )
    return user


def default_tenant(session: Session, user_id: int) -> uuid.UUID | None:
    """The tenant a fresh login lands in: the oldest membership."""
    rows = tenants.memberships_of(session, user_id)
    return rows[0][0].tenant_id if rows else None


def check_session(session: Session, user_id: int, session_version: int) -> User:
    """The user of an access token, if it still exists and the token's session is not ended.

    Raises:
        AuthenticationFailed: the user is gone, or a password reset ended the session.
    """
    user = get_user(session, user_id)
    if user.session_version != session_version:
        raise AuthenticationFailed("this session has ended; sign in again")
    return user


def get_user(session: Session, user_id: int | None) -> User:
    valid = user_id is not None and 0 < user_id < 2**31  # INTEGER ids
    user = session.get(User, user_id) if valid else None
    if user is None or user.is_erased:
        raise AuthenticationFailed("this account no longer exists")
    return user
