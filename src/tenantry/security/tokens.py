"""Access tokens (JWT, PyJWT) with pinned algorithm and required claims."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import jwt

from tenantry.errors import AuthenticationFailed
from tenantry.roles import Role

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "tenant", "role", "exp", "iat", "jti", "aud", "iss"]
# Tokens remembered as verified, per TokenService (a few hundred bytes each).
VERIFIED_TOKENS = 10_000


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What an access token says. The tenant and role are a *claim*: membership decides."""

    user_id: int
    tenant_id: uuid.UUID | None  # None: the person belongs to no tenant (yet, or any more)
    role: Role | None
    jti: str
    expires_at: datetime
    session_version: int = 0  # must equal the user's: a password reset bumps it


class TokenService:
    """Issue and verify short-lived access tokens."""

    def __init__(
        self,
        secret: str,
        *,
        issuer: str = "tenantry",
        audience: str = "tenantry-api",
        access_ttl: timedelta = timedelta(minutes=15),
    ) -> None:
        if len(secret) < 32:
            raise ValueError("the signing key must be at least 32 characters")
        self._secret = secret
        self.issuer = issuer
        self.audience = audience
        self.access_ttl = access_ttl
        # Only tokens that passed are kept (lru_cache does not keep what raised).
        self._decoded = lru_cache(maxsize=VERIFIED_TOKENS)(self._decode)

    def issue(
        self,
        *,
        user_id: int,
        tenant_id: uuid.UUID | None,
        role: Role | None,
        session_version: int = 0,
    ) -> tuple[str, datetime]:
        """Return a signed access token and its expiry (``tenant_id=None``: no tenant yet)."""
        now = datetime.now(UTC)
        expires = now + self.access_ttl
        payload = {
            "sub": str(user_id),
            # Present but empty without a tenant: the claims stay required.
            "tenant": str(tenant_id) if tenant_id else "",
            "role": role.value if role else "",
            "ver": session_version,
            "iat": now,
            "exp": expires,
            "jti": uuid.uuid4().hex,
            "aud": self.audience,
            "iss": self.issuer,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM), expires

    def verify(self, token: str) -> AccessClaims:
        """Verify signature, algorithm, expiry, audience, issuer and every required claim.

        A token verified before is not decoded again (a bounded LRU of the tokens that
        passed, as its bearer sends it on every request): its expiry is checked on every
        call. Nothing else about a token changes with time; what can change (a removed
        membership, an ended session) is checked in the database on every request.

        Raises:
            AuthenticationFailed: for any token that is not exactly right.
        """
        expires, claims = self._decoded(token)
        if expires <= time.time():  # as PyJWT: expired once ``exp`` is reached
            raise AuthenticationFailed("invalid or expired access token")
        return claims

    def _decode(self, token: str) -> tuple[int, AccessClaims]:
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
            )
            tenant, role = payload["tenant"], payload["role"]
            expires = int(payload["exp"])
            return expires, AccessClaims(
                user_id=int(payload["sub"]),
                tenant_id=uuid.UUID(tenant) if tenant != "" else None,
                role=Role(role) if role != "" else None,
                jti=str(payload["jti"]),
                expires_at=datetime.fromtimestamp(expires, UTC),
                session_version=int(payload.get("ver", 0)),
            )
        except (
            jwt.PyJWTError,
            ValueError,
            TypeError,
            KeyError,
            AttributeError,
            OverflowError,
        ) as exc:
            # Signed claims of the wrong shape (``tenant: 5``, an ``exp`` past year 9999)
            # are a bad token, not a server error.
            raise AuthenticationFailed("invalid or expired access token") from exc
