"""Password hashing with argon2, and a constant-cost check for unknown accounts.

Hashes imported from other apps (bcrypt, PBKDF2; see ``legacy_hashes``) are checked
too, and ``needs_rehash`` says when to replace one with argon2.
"""

from __future__ import annotations

from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tenantry.security.legacy_hashes import ARGON2, identify, verify_legacy


class Passwords:
    """Hash and verify passwords; ``hasher`` lets tests use cheaper parameters."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()

    @cached_property
    def _dummy_hash(self) -> str:
        return self.hasher.hash("tenantry-dummy-password")

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Check ``password``; with no hash (unknown email) spend the same time and fail.

        Login must not reveal which emails have accounts, by status, body or timing.
        """
        if password_hash is not None and identify(password_hash) not in (ARGON2, None):
            return verify_legacy(password_hash, password)
        try:
            return self.hasher.verify(password_hash or self._dummy_hash, password) and (
                password_hash is not None
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True for a hash another app wrote: replace it once the password is known."""
        return identify(password_hash) != ARGON2


def fast_test_hasher() -> PasswordHasher:
    """Cheap argon2 parameters for test suites; never for production."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
