"""Typed identifiers and the id generator for tenant-owned rows."""

from __future__ import annotations

import secrets
import uuid
from typing import NewType

TenantId = NewType("TenantId", uuid.UUID)
UserId = NewType("UserId", int)

# 2**53 keeps ids exact in JavaScript numbers (the web UI and JSON clients).
_ID_SPACE = 2**53 - 1


def new_row_id() -> int:
    """Return a random positive integer id for a tenant-owned row.

    Tenant tables have composite primary keys ``(tenant_id, id)``, which rule out
    SQLite's rowid autoincrement; random ids also keep integer ids of migrated
    single-tenant databases valid (see docs/adr/0002-row-ids.md).
    """
    return secrets.randbelow(_ID_SPACE) + 1
