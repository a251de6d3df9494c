"""Rotating, revocable refresh tokens; a reused token revokes its whole family."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tenantry import audit
from tenantry.errors import AuthenticationFailed
from tenantry.models import RefreshToken, User

# A spent token presented again this soon after its first use is its own client racing
# itself (two browser tabs renewing at once, a retry after a lost answer): it gets a pair
# of its own in the family. Later, a reuse is a stolen copy and revokes the family.
REUSE_GRACE = timedelta(seconds=10)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_refresh(
    session: Session,
    *,
    user_id: int,
    tenant_id: uuid.UUID | None,
    ttl: timedelta,
    family_id: uuid.UUID | None = None,
) -> str:
    """Store a new refresh token (its hash only) and return the token."""
    token = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            token_hash=_digest(token),
            family_id=family_id or uuid.uuid4(),
            user_id=user_id,
            tenant_id=tenant_id,
            expires_at=datetime.now(UTC) + ttl,
        )
    )
    return token


def rotate_refresh(session: Session, token: str, *, grace: timedelta = REUSE_GRACE) -> RefreshToken:
    """Spend ``token`` and return its record; the caller issues the next one in its family.

    A token spent less than ``grace`` ago is returned again (see :data:`REUSE_GRACE`).

    Raises:
        AuthenticationFailed: unknown, expired, revoked or already used. A reuse
            revokes the family, committed at once: somebody holds a stolen copy.
    """
    now = datetime.now(UTC)
    record = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _digest(token)))
    if record is None or record.revoked_at is not None or record.expires_at <= now:
        raise AuthenticationFailed("invalid refresh token")
    # Mark as used atomically: of two concurrent refreshes only one wins.
    spent = session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == record.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        used_at = session.scalar(select(RefreshToken.used_at).where(RefreshToken.id == record.id))
        if used_at is not None and now - used_at <= grace:
            return record
        # Commit the revocation now: the error below rolls the request back.
        revoke_family(session, record.family_id, reason="reuse", record=record)
        session.commit()
        raise AuthenticationFailed("refresh token reused; the session was revoked")
    return record


def revoke_family(
    session: Session,
    family_id: uuid.UUID,
    *,
    reason: str = "revoked",
    record: RefreshToken | None = None,
) -> None:
    """Revoke every token of the family; audited (with ``record``'s tenant and user) when known."""
    result = session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    if record is not None and result.rowcount:  # type: ignore[attr-defined]
        audit.record(
            session,
            "session.revoked",
            tenant_id=record.tenant_id,
            actor_id=record.user_id,
            target=f"user:{record.user_id}",
            reason=reason,
        )


def revoke_all(session: Session, user_id: int) -> None:
    """End every refresh family of a user (password reset, erasure)."""
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


def end_sessions(session: Session, user: User) -> None:
    """Every session of ``user`` ends now: its refresh tokens are revoked, and its access
    tokens fail their next request (each carries a session version that no longer matches)."""
    user.session_version += 1
    revoke_all(session, user.id)


def revoke_token(session: Session, token: str) -> None:
    """Revoke the family of ``token`` (logout); unknown tokens are ignored."""
    record = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _digest(token)))
    if record is not None:
        revoke_family(session, record.family_id, reason="sign-out", record=record)
