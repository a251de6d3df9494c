"""Password reset: single-use, expiring tokens stored as hashes; a reset ends every session."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tenantry import audit, tenants
from tenantry.accounts import check_password, check_password_length
from tenantry.errors import Conflict, PermissionDenied, ValidationFailed
from tenantry.models import Membership, PasswordReset, User, normalize_email
from tenantry.models.user import is_erased_address
from tenantry.security.passwords import Passwords
from tenantry.security.refresh import end_sessions

RESET_TTL = timedelta(hours=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_reset(
    session: Session, *, email: str, ttl: timedelta = RESET_TTL
) -> tuple[User, str] | None:
    """A new reset token for the account of ``email``, or ``None`` when there is none.

    The caller answers the same either way and mails the token only to the address.
    """
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        return None
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordReset(
            user_id=user.id, token_hash=_digest(token), expires_at=datetime.now(UTC) + ttl
        )
    )
    audit.record(session, "user.password_reset_requested", tenant_id=None, actor_id=user.id)
    return user, token


def reset_password(session: Session, passwords: Passwords, *, token: str, password: str) -> User:
    """Set a new password with a reset token, once.

    The token is spent with one conditional UPDATE (of two concurrent uses one
    wins); every other open reset of the user is spent too; every refresh token
    is revoked and the session version bumped, so every access token dies at
    once. Following the mailed link also proves the address: it counts as verified,
    and the tenants the unconfirmed sign-up joined are left (see
    :func:`_leave_what_the_sign_up_joined`).

    Raises:
        ValidationFailed: an unknown, used or expired token, or a weak password.
    """
    check_password_length(password)
    invalid = ValidationFailed("this link is not valid or has expired", details={"field": "token"})
    record = session.scalar(select(PasswordReset).where(PasswordReset.token_hash == _digest(token)))
    now = datetime.now(UTC)
    if record is None or record.used_at is not None or record.expires_at <= now:
        raise invalid
    user = session.get(User, record.user_id)
    if user is None or is_erased_address(user.email):
        raise invalid
    check_password(password, email=user.email, name=user.display_name)
    if _spend_open_resets(session, record.user_id, now) < 1:
        raise invalid
    user.password_hash = passwords.hash(password)
    end_sessions(session, user)
    if user.email_verified_at is None:
        user.email_verified_at = now
        _leave_what_the_sign_up_joined(session, user.id)
    audit.record(session, "user.password_reset", tenant_id=None, actor_id=user.id)
    return user


def _leave_what_the_sign_up_joined(session: Session, user_id: int) -> None:
    """A reset proves the mailbox, not the sign-up: whoever typed the address may have
    used an invite code of their own to put its owner in their household. So the tenants
    an unconfirmed account joined (any with another member) are left; the person is
    invited again if they meant it. Its own new tenant, where it is alone, stays."""
    memberships = session.scalars(select(Membership).where(Membership.user_id == user_id)).all()
    for membership in memberships:
        others = session.scalar(
            select(Membership.user_id)
            .where(Membership.tenant_id == membership.tenant_id, Membership.user_id != user_id)
            .limit(1)
        )
        if others is None:
            continue
        try:
            tenants.leave(session, tenant_id=membership.tenant_id, user_id=user_id)
        except Conflict:  # its last owner: the household would have none
            continue


def _spend_open_resets(session: Session, user_id: int, now: datetime) -> int:
    """Mark every unused reset of the user used (one UPDATE); returns how many."""
    spent = session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user_id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(spent.rowcount)  # type: ignore[attr-defined]


def change_password(
    session: Session, passwords: Passwords, *, user_id: int, current: str, new: str
) -> User:
    """Replace the password of a signed-in person who gives the current one.

    As after a reset, every session ends (the refresh tokens are revoked and the
    session version bumped): a thief signed in elsewhere is out at once; and every
    reset link not yet used is spent.

    Raises:
        PermissionDenied: the current password is wrong.
        ValidationFailed: the new password is weak.
    """
    user = session.get(User, user_id)
    if user is None or not passwords.verify(user.password_hash, current):
        raise PermissionDenied("wrong password: give your current password")
    check_password(new, field="new_password", email=user.email, name=user.display_name)
    user.password_hash = passwords.hash(new)
    end_sessions(session, user)
    # A reset link mailed before stays a way in for whoever reads that mailbox: spent too.
    _spend_open_resets(session, user.id, datetime.now(UTC))
    audit.record(session, "user.password_changed", tenant_id=None, actor_id=user.id)
    return user
