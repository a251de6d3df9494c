"""Tenants A and B, for tests of the core that attack one from the other."""

from __future__ import annotations

import uuid

from tenantry.context import TenantContext
from tenantry.db import Database
from tenantry.models import Tenant
from tenantry.roles import Role

A, B = uuid.uuid4(), uuid.uuid4()
CTX_A = TenantContext(A, None, Role.OWNER)  # type: ignore[arg-type]
CTX_B = TenantContext(B, None, Role.OWNER)  # type: ignore[arg-type]


def add_two_tenants(db: Database) -> None:
    """Create tenants A and B in ``db`` (no members: the contexts carry no user)."""
    with db.session() as s:
        s.add_all([Tenant(id=A, slug="a", name="A"), Tenant(id=B, slug="b", name="B")])
