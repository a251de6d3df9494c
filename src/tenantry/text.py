"""What text tenantry accepts from people: the one rule for request bodies and the core.

Control characters are refused (SQLite would store a NUL that PostgreSQL refuses, so the
same input would get different answers); one-line values (names, addresses) refuse line
breaks too, as they end up in mail headers and logs, and the characters that make a label
show other than it reads: direction overrides (``\u202egnp.exe`` shows as ``exe.png``) and
nothing but invisible characters (a zero-width space for a household's name).
"""

from __future__ import annotations

import re
import unicodedata

# Control characters but tab and line breaks.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Every control character, line breaks and Unicode's line and paragraph separators.
BREAK = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


# Unicode's embeddings, overrides and isolates: they reorder what follows them.
REORDER = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def problem_with_line(value: str) -> str | None:
    """Why ``value`` is not one line of text a person can read as it is, or ``None``."""
    if BREAK.search(value):
        return "must be one line of text"
    if REORDER.search(value):
        return "must not hold characters that reorder text (U+202A-U+202E, U+2066-U+2069)"
    if value and all(c.isspace() or unicodedata.category(c) == "Cf" for c in value):
        return "must have a visible character"
    return None
