"""Canonical tenant slugs: lowercase ASCII letters, digits and single hyphens."""

from __future__ import annotations

import re
import secrets
import unicodedata

_INVALID = re.compile(r"[^a-z0-9]+")
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


# The site's own host label (www.<base_domain>): no tenant may have it as its slug.
SITE_LABEL = "www"


def slugify(name: str) -> str:
    """The canonical slug for ``name``; never empty."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = _INVALID.sub("-", ascii_name.lower()).strip("-")[:48].strip("-")
    return slug or "tenant"


def with_suffix(slug: str) -> str:
    """``slug`` plus a short random suffix, for when the plain one is taken."""
    return f"{slug[:50]}-{secrets.token_hex(3)}"


def is_canonical(slug: str) -> bool:
    return bool(SLUG_RE.match(slug)) and "--" not in slug
