"""The tenant context: who acts, for which tenant, with which role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from tenantry.errors import NoTenantContext
from tenantry.ids import TenantId, UserId
from tenantry.roles import Role


@dataclass(frozen=True, slots=True)
class TenantContext:
    """A verified statement: ``user_id`` is a member of ``tenant_id`` with ``role``.

    Only membership resolution creates one from a request; background work and
    tests create one explicitly and enter it with :func:`tenant_scope`.
    """

    tenant_id: TenantId
    user_id: UserId | None
    role: Role
    # The tenant's plan as read with the membership (None where no request resolved it).
    plan: str | None = None
    # A per-tenant override of the plan's requests_per_minute, read with the membership:
    # ``rate_overridden`` says there is one, ``rate_override`` its value (None: unlimited).
    rate_overridden: bool = False
    rate_override: int | None = None
    # True when that read found no other override: ``plan``'s own limits are the tenant's.
    plan_as_is: bool = False

    def __post_init__(self) -> None:
        # A tenant id given as text (the test kit's Member.tenant_id, a job's payload)
        # failed at the first query, deep in SQLAlchemy ("'str' object has no attribute
        # 'hex'"): read it here, or say what is wrong where the context is made.
        if isinstance(self.tenant_id, uuid.UUID):
            return
        if isinstance(self.tenant_id, str):
            try:
                object.__setattr__(self, "tenant_id", TenantId(uuid.UUID(self.tenant_id)))
                return
            except ValueError:
                pass
        raise TypeError(f"tenant_id must be a uuid.UUID (or its text), not {self.tenant_id!r}")


_current: ContextVar[TenantContext | None] = ContextVar("tenantry_tenant", default=None)


@contextmanager
def tenant_scope(ctx: TenantContext) -> Iterator[TenantContext]:
    """Run a block inside ``ctx``; the previous context is restored on exit.

    A ContextVar follows asyncio tasks but not threads or processes: background
    work must receive the context explicitly and enter it again with this.
    """
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def current_tenant() -> TenantContext:
    """Return the active context, or raise :class:`NoTenantContext` (fail closed)."""
    ctx = _current.get()
    if ctx is None:
        raise NoTenantContext("no tenant context is active")
    return ctx


def maybe_current_tenant() -> TenantContext | None:
    """Return the active context or ``None``; for code that has a non-tenant path."""
    return _current.get()
