"""Accounts: sign-up that reveals nothing, email verification, credential checks.

Sign-up answers the same whether or not the email has an account: a new email
gets an unverified account (and its personal tenant, or the invite's membership),
a known one gets nothing new; the caller mails the address either way. An
unverified account cannot sign in until its link is followed (or a password reset
proves the address), so registering someone else's email teaches nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tenantry import audit, invites, tenants
from tenantry.errors import AuthenticationFailed, ValidationFailed
from tenantry.ids import is_user_id
from tenantry.models import Membership, TenantKind, TenantStatus, User, normalize_email
from tenantry.models.user import checked_email
from tenantry.plans.quotas import enforce_seat
from tenantry.security.links import read_link
from tenantry.security.passwords import Passwords
from tenantry.security.refresh import end_sessions
from tenantry.text import problem_with_line

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # the API's bound: a page must not store less than was typed
# zxcvbn's score (0-4) a new password needs: 2 is "somewhat guessable", at least 10^6
# guesses; 0 and 1 are what guessers try first (common passwords, keyboard rows, repeats).
MIN_STRENGTH = 2
ZXCVBN_MAX = 72  # the longest input zxcvbn takes
MAX_DISPLAY_NAME = 200
VERIFY_PURPOSE = "verify-email"
WRONG_CREDENTIALS = "wrong email or password, or the email address is not confirmed yet"


class UnverifiedAccount(AuthenticationFailed):
    """The right password for an account whose email is not confirmed (answered as a 401)."""

    def __init__(self, user: User) -> None:
        super().__init__(WRONG_CREDENTIALS)
        self.user = user


@dataclass(frozen=True, slots=True)
class Registration:
    """What a sign-up did: a new account, or nothing because the email had one."""

    email: str
    user: User | None = None  # the new, unverified account
    membership: Membership | None = None
    existing: User | None = None  # the account the email already had
    invited_to: uuid.UUID | None = None  # the tenant of the invite code given, checked


def check_password_length(password: str, field: str = "password") -> None:
    """The part of :func:`check_password` that needs nothing but the password: asked
    first where the rest waits for a lookup (a reset's account)."""
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            f"the password must have at least {MIN_PASSWORD} characters",
            details={"field": field},
        )
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed(
            f"the password has at most {MAX_PASSWORD} characters", details={"field": field}
        )


def check_password(
    password: str, field: str = "password", *, email: str = "", name: str = ""
) -> None:
    """A new password: long enough, and not one guessers try early (zxcvbn's estimate:
    common passwords, keyboard rows, repeats, dates, or the person's own ``email``, its
    local part and ``name``). What every way in (API, pages, CLI) refuses alike."""
    check_password_length(password, field)
    from zxcvbn import zxcvbn

    # Its first 72 characters: zxcvbn refuses more (ValueError: a 500 the API's fuzzing
    # found), its time grows fast with length, and a password that long is never guessed
    # by its tail.
    own = (email, email.partition("@")[0], name)
    estimate = zxcvbn(password[:ZXCVBN_MAX], user_inputs=[w[:ZXCVBN_MAX] for w in own if w])
    if estimate["score"] < MIN_STRENGTH:
        warning = str(estimate["feedback"].get("warning") or "").rstrip(".")
        raise ValidationFailed(
            "this password is too easy to guess"
            + (f" ({warning[:1].lower()}{warning[1:]})" if warning else "")
            + ": use a few words that do not belong together",
            details={"field": field},
        )


def checked_display_name(name: str) -> str:
    """A person's name, trimmed: one line of at most 200 characters (it reaches mails)."""
    name = name.strip()
    problem = problem_with_line(name)
    if problem:
        raise ValidationFailed(f"the display name {problem}", details={"field": "display_name"})
    if len(name) > MAX_DISPLAY_NAME:
        raise ValidationFailed(
            f"a display name has at most {MAX_DISPLAY_NAME} characters",
            details={"field": "display_name"},
        )
    return name


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
    verified: bool = False,
) -> Registration:
    """Create an account with a personal tenant or an invite membership, unless one exists.

    Input is checked the same way for known and unknown emails (an invite code and
    its tenant's free seat too), and the password is hashed either way so the time
    taken tells nothing.
    ``verified=True`` is for accounts an operator creates (demo data, imports).
    Without an invite, the new tenant is named ``tenant_name`` or, when that is
    empty, ``default_tenant_name(display_name)``, and is of ``tenant_kind``.

    Raises:
        ValidationFailed: a weak password or an invalid email.
        InvalidInvite: the code cannot be used (nothing is created).
        QuotaExceeded: the invite's tenant has no seat left (nothing is created).
    """
    canonical = checked_email(email)
    display_name = checked_display_name(display_name)
    check_password(password, email=canonical, name=display_name)
    joining = None
    if invite_code:
        joining = invites.check_usable(session, invite_code, email=canonical)
        # A full tenant refuses a known email as it refuses a new one (the join would);
        # the join that follows records a limit it crosses, once.
        enforce_seat(session, joining, alert=False)
    password_hash = passwords.hash(password)
    existing = session.scalar(select(User).where(User.email == canonical))
    if existing is not None:
        audit.record(session, "user.registration_repeated", tenant_id=None, actor_id=existing.id)
        return Registration(canonical, existing=existing, invited_to=joining)
    user = User(
        email=canonical,
        password_hash=password_hash,
        display_name=display_name or canonical.split("@")[0],
        email_verified_at=datetime.now(UTC) if verified else None,
    )
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:  # a concurrent sign-up with this email won the race
        existing = session.scalar(select(User).where(User.email == canonical))
        return Registration(canonical, existing=existing, invited_to=joining)
    audit.record(session, "user.registered", tenant_id=None, actor_id=user.id)
    if invite_code:
        membership = invites.join(session, code=invite_code, user=user)
    else:
        # A name made from the display name is cut to fit; one given is checked as is.
        name = (tenant_name or "").strip() or default_tenant_name(user.display_name)[:200]
        tenant = tenants.create_tenant(session, owner_id=user.id, name=name, kind=tenant_kind)
        membership = tenants.get_membership(session, tenant.id, user.id)  # type: ignore[assignment]
    return Registration(canonical, user=user, membership=membership)


def verify_email(session: Session, secret: str, token: str) -> User:
    """Confirm an address with the signed link mailed at sign-up; each link works once.

    Raises:
        ValidationFailed: forged, expired, already used, or for an address the account
            no longer has.
    """
    user_id, email = read_link(secret, token, purpose=VERIFY_PURPOSE)
    user = session.get(User, user_id) if is_user_id(user_id) else None
    if user is None or user.email != email or user.email_verified_at is not None:
        raise ValidationFailed("this link is not valid or has expired", details={"field": "token"})
    user.email_verified_at = datetime.now(UTC)
    audit.record(session, "user.email_verified", tenant_id=None, actor_id=user.id)
    return user


def authenticate(session: Session, passwords: Passwords, *, email: str, password: str) -> User:
    """Return the user for these credentials; unknown email and wrong password look the same.

    Raises:
        AuthenticationFailed: wrong email or password.
        UnverifiedAccount: the right password, but the address is not confirmed yet
            (the same 401 for the client; the caller may mail a new link).
    """
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
        raise AuthenticationFailed(WRONG_CREDENTIALS)
    if user.email_verified_at is None:
        raise UnverifiedAccount(user)
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
    """The tenant a fresh login lands in: the oldest membership of an active tenant, else
    the oldest of a suspended one (where an owner can still pay to lift the suspension)."""
    rows = tenants.memberships_of(session, user_id)  # oldest first
    for membership, tenant in rows:
        if tenant.status == TenantStatus.ACTIVE.value:
            return membership.tenant_id
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


def sign_out_everywhere(session: Session, user_id: int, session_version: int) -> None:
    """End every session of the account, the caller's included, on every device: a lost
    phone's tokens are refused on their next request, not at expiry.

    Raises:
        AuthenticationFailed: the user is gone, or the caller's session already ended.
    """
    user = check_session(session, user_id, session_version)
    end_sessions(session, user)
    audit.record(
        session,
        "session.revoked",
        tenant_id=None,
        actor_id=user.id,
        target=f"user:{user.id}",
        reason="everywhere",
    )


def get_user(session: Session, user_id: int | None) -> User:
    valid = user_id is not None and is_user_id(user_id)
    user = session.get(User, user_id) if valid else None
    if user is None or user.is_erased:
        raise AuthenticationFailed("this account no longer exists")
    return user
