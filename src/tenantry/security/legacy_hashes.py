"""Password hashes other apps wrote (bcrypt, PBKDF2), so their users keep their passwords.

Imported accounts (``tenantry tenantize``) keep the hash they had; it is checked here at
sign-in and replaced by an argon2 hash on the first success. bcrypt is checked by the
``bcrypt`` package; PBKDF2 formats are only parsed here and computed by
``hashlib.pbkdf2_hmac``. Nothing here creates a legacy hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

import bcrypt

ARGON2 = "argon2"
BCRYPT = "bcrypt"
PBKDF2 = "pbkdf2"

_BCRYPT = re.compile(r"^\$2[abxy]\$\d\d\$[./A-Za-z0-9]{53}$")
_ARGON2 = re.compile(r"^\$argon2(id|i|d)\$")
# Django: pbkdf2_sha256$<iterations>$<salt>$<base64 hash>
_DJANGO = re.compile(r"^pbkdf2_(sha1|sha256|sha512)\$(\d+)\$([^$]*)\$([A-Za-z0-9+/=]+)$")
# passlib: $pbkdf2-sha256$<iterations>$<ab64 salt>$<ab64 hash>
_PASSLIB = re.compile(r"^\$pbkdf2(?:-(sha256|sha512))?\$(\d+)\$([./A-Za-z0-9]*)\$([./A-Za-z0-9]+)$")
# Werkzeug: pbkdf2:sha256:<iterations>$<salt>$<hex hash>
_WERKZEUG = re.compile(r"^pbkdf2:(sha1|sha256|sha512)(?::(\d+))?\$([^$]*)\$([0-9a-f]+)$")


@dataclass(frozen=True, slots=True)
class _Pbkdf2:
    digest: str
    iterations: int
    salt: bytes
    expected: bytes


def identify(password_hash: str | None) -> str | None:
    """``argon2``, ``bcrypt``, ``pbkdf2``, or ``None`` for a format tenantry cannot check."""
    if not password_hash:
        return None
    if _ARGON2.match(password_hash):
        return ARGON2
    if _BCRYPT.match(password_hash):
        return BCRYPT
    if _pbkdf2(password_hash) is not None:
        return PBKDF2
    return None


def verify_legacy(password_hash: str, password: str) -> bool:
    """Check ``password`` against a bcrypt or PBKDF2 hash; ``False`` for anything else."""
    kind = identify(password_hash)
    if kind == BCRYPT:
        # bcrypt reads only the first 72 bytes; the apps that wrote these hashes did the same.
        stored = "$2b$" + password_hash[4:]  # 2a/2y/2x name the same algorithm for the package
        try:
            return bcrypt.checkpw(password.encode()[:72], stored.encode())
        except ValueError:
            return False
    if kind == PBKDF2:
        spec = _pbkdf2(password_hash)
        assert spec is not None
        computed = hashlib.pbkdf2_hmac(
            spec.digest, password.encode(), spec.salt, spec.iterations, len(spec.expected)
        )
        return hmac.compare_digest(computed, spec.expected)
    return False


def _ab64(text: str) -> bytes:
    """passlib's "adapted base64": ``.`` for ``+``, no padding."""
    padded = text.replace(".", "+") + "=" * (-len(text) % 4)
    return base64.b64decode(padded, validate=True)


def _pbkdf2(password_hash: str) -> _Pbkdf2 | None:
    try:
        if match := _DJANGO.match(password_hash):
            digest, iterations, salt, raw = match.groups()
            expected = base64.b64decode(raw, validate=True)
            return _Pbkdf2(digest, int(iterations), salt.encode(), expected)
        if match := _PASSLIB.match(password_hash):
            digest, iterations, salt, raw = match.groups()
            return _Pbkdf2(digest or "sha1", int(iterations), _ab64(salt), _ab64(raw))
        if match := _WERKZEUG.match(password_hash):
            digest, iterations, salt, raw = match.groups()
            return _Pbkdf2(digest, int(iterations or 260_000), salt.encode(), bytes.fromhex(raw))
    except (binascii.Error, ValueError):
        return None
    return None
