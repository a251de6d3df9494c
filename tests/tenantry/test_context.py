"""The tenant context: what it accepts as a tenant id."""

from __future__ import annotations

import uuid

import pytest

from tenantry.context import TenantContext
from tenantry.ids import TenantId, UserId
from tenantry.roles import Role


def test_a_tenant_id_given_as_text_is_read_as_its_uuid() -> None:
    """The test kit's Member.tenant_id is text: passed on, the first query failed deep in
    SQLAlchemy ("'str' object has no attribute 'hex'")."""
    tenant = uuid.uuid4()
    ctx = TenantContext(str(tenant), UserId(1), Role.MEMBER)  # type: ignore[arg-type]
    assert ctx.tenant_id == tenant and isinstance(ctx.tenant_id, uuid.UUID)
    assert ctx == TenantContext(TenantId(tenant), UserId(1), Role.MEMBER)


@pytest.mark.parametrize("value", ["not-a-uuid", 42, None])
def test_anything_else_is_refused_where_the_context_is_made(value: object) -> None:
    with pytest.raises(TypeError, match=r"tenant_id must be a uuid\.UUID"):
        TenantContext(value, UserId(1), Role.MEMBER)  # type: ignore[arg-type]
