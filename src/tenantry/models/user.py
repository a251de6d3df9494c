"""Users: people who sign in; they belong to tenants through memberships."""

from __future__ import annotations

import string
from datetime import datetime

import idna
from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.models.base import Base, utcnow

# An erased account keeps a nameless row under this never-deliverable domain (RFC 2606),
# so that its id is never handed to someone else (SQLite reuses the highest rowid).
ERASED_DOMAIN = "erased.invalid"
# The password hash of an account no password signs in to (not a hash at all).
NO_PASSWORD = "!"  # noqa: S105


def is_erased_address(email: str) -> bool:
    """Whether ``email`` is the address an erasure leaves in place of a person's."""
    return email.endswith("@" + ERASED_DOMAIN)


# Only ASCII letters change case in the part before the @: case-folding it made
# ``straße@`` into ``strasse@`` (and the Kelvin sign into ``k``), another mailbox, where
# the confirmation went; left as typed, such a part is refused by checked_email.
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def normalize_email(email: str) -> str:
    """The one canonical form of an email: trimmed, its ASCII letters in lower case, its
    domain in Unicode.

    An internationalised domain has two spellings, ``bücher.example`` and the ASCII
    ``xn--bcher-kva.example`` that goes on the wire: one mailbox, so one account. The
    canonical one is IDNA 2008's Unicode form (email-validator's too). The domain is not
    case-folded as text: that made ``straße.de`` into ``strasse.de``, another domain,
    whose mailboxes then got the account's mails. A domain that is not valid IDNA is
    case-folded as it is, and :func:`checked_email` refuses it where an address is made.
    """
    local, at, domain = email.strip().rpartition("@")
    if not at:
        return email.strip().translate(_ASCII_LOWER)
    local = local.translate(_ASCII_LOWER)
    if domain.isascii() and "xn--" not in domain.lower():
        return f"{local}@{domain.lower()}"
    try:
        canonical = idna.decode(idna.encode(domain, uts46=True))
    except (idna.IDNAError, UnicodeError):
        canonical = domain.casefold()
    return f"{local}@{canonical}"


def ascii_address(email: str) -> str:
    """``email`` with its domain in IDNA's ASCII form (``bücher.example`` ->
    ``xn--bcher-kva.example``): what goes on the wire and in a mail's headers, which
    cannot carry it otherwise. As it is when already ASCII, or not IDNA."""
    local, at, domain = email.rpartition("@")
    if not at or domain.isascii():
        return email
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except (idna.IDNAError, UnicodeError):
        return email


def email_spellings(email: str) -> list[str]:
    """``email`` (canonical) and, for an internationalised domain, its ASCII spelling:
    what records made before migration 0010 may hold (a failed sign-in's typed address)."""
    spelled = ascii_address(email)
    return [email] if spelled == email else [email, spelled]


def checked_email(email: str) -> str:
    """:func:`normalize_email`, refusing what cannot be one address (sign-up, invites).

    The syntax is email-validator's: a list (``a@x.org,b@y.org``), spaces or line
    breaks would become extra recipients or headers of the mail sent to it. Its DNS is
    not asked; an intranet's dotless domain and ``.test`` (test suites) are allowed,
    ``localhost`` and the other special-use names are not. The part before the ``@`` is
    ASCII (few mail servers take anything else); a domain may be internationalised.

    Raises:
        ValidationFailed: not the address of one mailbox.
    """
    from email_validator import EmailNotValidError, validate_email

    from tenantry.errors import ValidationFailed

    canonical = normalize_email(email)
    if "=?" in canonical:
        # A valid address, but a mail header decodes it as an RFC 2047 encoded-word:
        # ``=?utf-8?q?bob?=@x.org`` reads, and is sent to, bob@x.org.
        raise ValidationFailed(
            "enter a valid email address",
            details={"field": "email", "reason": "'=?' opens an encoded word in mail headers"},
        )
    try:
        validate_email(
            canonical,
            check_deliverability=False,
            globally_deliverable=False,
            test_environment=True,
            allow_smtputf8=False,  # a non-ASCII local part needs SMTPUTF8 all the way through
        )
    except EmailNotValidError as exc:
        raise ValidationFailed(
            "enter a valid email address", details={"field": "email", "reason": str(exc)}
        ) from None
    return canonical


class User(Base):
    __tablename__ = "tenantry_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    is_platform_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # None until the person follows the link mailed at sign-up; such accounts cannot sign in.
    # Accounts an operator creates (tenantize, demo data, import) set it when created.
    email_verified_at: Mapped[datetime | None] = mapped_column(default=None)
    # Part of every access token; bumping it (password reset) ends every session at once.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    @property
    def is_erased(self) -> bool:
        """True for the placeholder left by an erasure: it can do nothing."""
        return is_erased_address(self.email)
