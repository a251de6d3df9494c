"""Signed, expiring tokens for links in mails (email verification), bound to one purpose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from tenantry.errors import ValidationFailed

ALGORITHM = "HS256"


def sign_link(secret: str, *, purpose: str, user_id: int, email: str, ttl: timedelta) -> str:
    """A token saying "``user_id`` owns ``email``" for ``purpose``, valid for ``ttl``."""
    now = datetime.now(UTC)
    payload = {"sub": str(user_id), "email": email, "iat": now, "exp": now + ttl}
    return jwt.encode(payload, secret, algorithm=ALGORITHM, headers={"typ": purpose})


def read_link(secret: str, token: str, *, purpose: str) -> tuple[int, str]:
    """The user id and email of a valid token for ``purpose``.

    Raises:
        ValidationFailed: forged, expired, or made for another purpose (one message for all).
    """
    try:
        if jwt.get_unverified_header(token).get("typ") != purpose:
            raise jwt.InvalidTokenError("another purpose")
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "email", "exp"]}
        )
        return int(payload["sub"]), str(payload["email"])
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise ValidationFailed(
            "this link is not valid or has expired", details={"field": "token"}
        ) from exc
