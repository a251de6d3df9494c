"""What text tenantry accepts from people: the one rule for request bodies and the core.

Control characters are refused (SQLite would store a NUL that PostgreSQL refuses, so the
same input would get different answers); one-line values (names, addresses) refuse line
breaks too, as they end up in mail headers and logs.
"""

from __future__ import annotations

import re

# Control characters but tab and line breaks.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Every control character, line breaks and Unicode's line and paragraph separators.
BREAK = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def problem_with_line(value: str) -> str | None:
    """Why ``value`` is not one line of text, or ``None`` when it is."""
    return "must be one line of text" if BREAK.search(value) else None
