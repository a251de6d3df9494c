"""Typed identifiers and the id generator for tenant-owned rows."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Iterator
from typing import NewType, TypeVar

TenantId = NewType("TenantId", uuid.UUID)
UserId = NewType("UserId", int)

# 2**53 keeps ids exact in JavaScript numbers (the web UI and JSON clients).
_ID_SPACE = 2**53 - 1
# The largest row id a BIGINT (and SQLite's INTEGER) column holds.
MAX_ROW_ID = 2**63 - 1


def is_row_id(value: int) -> bool:
    """Whether ``value`` can be a row's id: a larger one names no row, and the database
    would refuse to even compare with it (an error, where "not found" is the answer)."""
    return 0 < value <= MAX_ROW_ID


# The largest user id: tenantry_users.id is an INTEGER (32 bits on PostgreSQL).
MAX_USER_ID = 2**31 - 1


def is_user_id(value: int) -> bool:
    """Whether ``value`` can be a user's id (see :func:`is_row_id`: a larger one is an
    error on PostgreSQL, where "no such account" is the answer)."""
    return 0 < value <= MAX_USER_ID


def new_row_id() -> int:
    """Return a random positive integer id for a tenant-owned row.

    Tenant tables have composite primary keys ``(tenant_id, id)``, which rule out
    SQLite's rowid autoincrement; random ids also keep integer ids of migrated
    single-tenant databases valid (see docs/adr/0002-row-ids.md).
    """
    return secrets.randbelow(_ID_SPACE) + 1


K = TypeVar("K", uuid.UUID, int)

# Keys per IN list: far under every backend's bound-parameter limit (SQLite 32,766).
IN_CHUNK = 500


def in_chunks(keys: Iterable[K]) -> Iterator[list[K]]:
    """``keys`` without repeats, sorted, in lists of at most :data:`IN_CHUNK`: for
    ``column.in_(chunk)`` over a number of tenants no backend bounds."""
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), IN_CHUNK):
        yield ordered[start : start + IN_CHUNK]
