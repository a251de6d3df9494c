"""Hashes other apps wrote are recognised and checked; nothing else passes."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tenantry.security.legacy_hashes import identify, verify_legacy
from tenantry.security.passwords import Passwords, fast_test_hasher
from tests.migrate.seeds import argon2_hash, bcrypt_hash, django_pbkdf2

PASSWORD = "tea, two sugars"


def _ab64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=").replace("+", ".")


def passlib_pbkdf2(password: str) -> str:
    salt = b"\x01\x02\x03\x04salty"
    raw = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 2000)
    return f"$pbkdf2-sha256$2000${_ab64(salt)}${_ab64(raw)}"


def werkzeug_pbkdf2(password: str) -> str:
    raw = hashlib.pbkdf2_hmac("sha256", password.encode(), b"NaCl", 1500)
    return f"pbkdf2:sha256:1500$NaCl${raw.hex()}"


FORMATS = {
    "bcrypt $2b$": (bcrypt_hash(PASSWORD), "bcrypt"),
    "bcrypt $2a$": (bcrypt_hash(PASSWORD, b"2a"), "bcrypt"),
    "bcrypt $2y$": ("$2y$" + bcrypt_hash(PASSWORD)[4:], "bcrypt"),
    "django pbkdf2_sha256": (django_pbkdf2(PASSWORD), "pbkdf2"),
    "passlib pbkdf2-sha256": (passlib_pbkdf2(PASSWORD), "pbkdf2"),
    "werkzeug pbkdf2:sha256": (werkzeug_pbkdf2(PASSWORD), "pbkdf2"),
    "argon2id": (argon2_hash(PASSWORD), "argon2"),
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_is_recognised_and_checked(name: str) -> None:
    stored, kind = FORMATS[name]
    assert identify(stored) == kind
    passwords = Passwords(fast_test_hasher())
    assert passwords.verify(stored, PASSWORD)
    assert not passwords.verify(stored, PASSWORD + "!")
    assert passwords.needs_rehash(stored) == (kind != "argon2")


@pytest.mark.parametrize(
    "stored",
    [
        "5f4dcc3b5aa765d61d8327deb882cf99",  # md5 hex
        PASSWORD,  # plain text
        "$1$abc$def",  # md5-crypt
        "pbkdf2_sha256$x$salt$hash",
        "$2b$12$tooshort",
        "",
    ],
)
def test_other_formats_are_unknown_and_never_pass(stored: str) -> None:
    assert identify(stored) is None
    assert not verify_legacy(stored, PASSWORD)
    assert not Passwords(fast_test_hasher()).verify(stored, PASSWORD)


def test_bcrypt_reads_only_72_bytes_as_the_legacy_app_did() -> None:
    long = "x" * 80
    stored = bcrypt_hash(long[:72])
    assert verify_legacy(stored, long)
