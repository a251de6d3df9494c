"""Per-tenant concurrency caps, so one tenant's flood cannot take a whole process.

A request holds one of its tenant's slots from the moment its membership is
known until its commit. A tenant at its cap queues its own requests (in arrival
order, on the event loop, holding no thread, connection or lock) while every
other tenant's requests go straight through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio


@dataclass(slots=True)
class _Slot:
    semaphore: anyio.Semaphore
    users: int = field(default=0)


class TenantSlots:
    """At most ``per_tenant`` holders per key at once; the others wait first come, first served."""

    def __init__(self, per_tenant: int) -> None:
        if per_tenant < 1:
            raise ValueError("per_tenant must be at least 1")
        self.per_tenant = per_tenant
        self._slots: dict[Hashable, _Slot] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        """Wait for one of ``key``'s slots and hold it for the block."""
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(anyio.Semaphore(self.per_tenant, fast_acquire=True))
        slot.users += 1
        try:
            async with slot.semaphore:
                yield
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self._slots[key]

    def busy(self, key: Hashable) -> int:
        """How many of ``key``'s requests hold a slot or wait for one."""
        slot = self._slots.get(key)
        return 0 if slot is None else slot.users
