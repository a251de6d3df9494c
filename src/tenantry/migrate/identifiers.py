"""SQL identifiers as the conversion writes them: always double-quoted.

Legacy schemas name tables and columns freely (``order``, ``Group``, ``user id``), and
both SQLite and PostgreSQL take any name between double quotes, a quote doubled.
"""

from __future__ import annotations


def quoted(name: str) -> str:
    """``name`` between double quotes, its own quotes doubled."""
    return '"' + name.replace('"', '""') + '"'
