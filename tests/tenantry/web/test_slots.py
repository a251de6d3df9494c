"""``TenantSlots``: the per-tenant cap and the process's fair share, driven step by step."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager

import anyio
import pytest
from anyio.abc import TaskGroup

from tenantry.web.slots import TenantSlots


class Requests:
    """Requests held inside their slot until released; records the order they got in."""

    def __init__(self, slots: TenantSlots, tg: TaskGroup) -> None:
        self.slots = slots
        self.tg = tg
        self.started: list[str] = []
        self._release: dict[str, anyio.Event] = {}
        self._scopes: dict[str, anyio.CancelScope] = {}

    async def send(self, key: Hashable, *names: str) -> None:
        """``key``'s requests ``names``, one after another, each as far as it gets."""
        for name in names:
            self._release[name] = anyio.Event()
            self._scopes[name] = anyio.CancelScope()
            self.tg.start_soon(self._request, key, name)
            await anyio.wait_all_tasks_blocked()

    async def _request(self, key: Hashable, name: str) -> None:
        with self._scopes[name]:
            async with self.slots.hold(key):
                self.started.append(name)
                await self._release[name].wait()

    async def finish(self, name: str) -> None:
        self._release[name].set()
        await anyio.wait_all_tasks_blocked()

    async def cancel(self, name: str) -> None:
        self._scopes[name].cancel()
        await anyio.wait_all_tasks_blocked()


@asynccontextmanager
async def requests(slots: TenantSlots) -> AsyncIterator[Requests]:
    async with anyio.create_task_group() as tg:
        yield Requests(slots, tg)


@pytest.mark.anyio
async def test_a_tenant_alone_uses_the_process_share_and_no_more_than_its_cap() -> None:
    slots = TenantSlots(per_tenant=3, process=2, patience=math.inf)
    async with requests(slots) as r:
        await r.send("A", "a1", "a2", "a3")
        assert r.started == ["a1", "a2"]  # the share is 2
        assert (slots.running("A"), slots.busy("A")) == (2, 3)
        await r.finish("a1")
        assert r.started == ["a1", "a2", "a3"]
        for name in ("a2", "a3"):
            await r.finish(name)
    assert slots.busy("A") == 0


@pytest.mark.anyio
async def test_another_tenants_first_request_never_waits_and_the_floods_extras_yield() -> None:
    slots = TenantSlots(per_tenant=4, process=2, patience=math.inf)
    async with requests(slots) as r:
        await r.send("A", "a1", "a2", "a3", "a4")
        assert r.started == ["a1", "a2"]
        await r.send("B", "b1")  # over the share, but B's first: in at once
        await r.send("C", "c1")
        assert r.started == ["a1", "a2", "b1", "c1"]
        await r.send("B", "b2")  # B's second waits, like A's extras
        await r.finish("a1")  # 3 run (a2, b1, c1): still over the share
        assert r.started == ["a1", "a2", "b1", "c1"]
        await r.finish("c1")
        # 2 run (a2, b1): no room under the share for A's or B's extras yet.
        assert r.started == ["a1", "a2", "b1", "c1"]
        await r.finish("a2")
        # A runs nothing now: its next request is a first one and starts; room for one
        # more is then gone (b1 and a3 run).
        assert r.started[-1] == "a3"
        await r.finish("b1")
        # B runs nothing: b2 starts as B's first, and a4 must still wait (a3 and b2 run).
        assert r.started[-1] == "b2" and "a4" not in r.started
        await r.finish("b2")
        assert r.started[-1] == "a4"
        for name in ("a3", "a4"):
            await r.finish(name)
    assert slots.busy("A") == slots.busy("B") == 0


@pytest.mark.anyio
async def test_a_freed_slot_goes_to_the_waiting_tenant_running_the_fewest() -> None:
    slots = TenantSlots(per_tenant=4, process=3, patience=math.inf)
    async with requests(slots) as r:
        await r.send("A", "a1", "a2", "a3")
        await r.send("A", "a4")  # waits: the share of 3 is used
        await r.send("B", "b1")  # B's first: runs (4 in all)
        await r.send("B", "b2")  # waits
        await r.finish("a1")  # 3 run: a2, a3, b1 — at the share, nobody else starts
        assert "a4" not in r.started and "b2" not in r.started
        await r.finish("a2")  # room for one: B runs 1, A runs 1 — A waited first
        assert r.started[-1] == "a4"
        await r.finish("a3")  # room again: B runs 1, A runs 1 (a4): B has waited since
        assert r.started[-1] == "b2"
        for name in ("a4", "b1", "b2"):
            await r.finish(name)


@pytest.mark.anyio
async def test_a_cancelled_waiter_gives_its_place_to_the_next() -> None:
    slots = TenantSlots(per_tenant=1, process=None)
    async with requests(slots) as r:
        await r.send("A", "a1")
        await r.send("A", "a2")
        await r.send("A", "a3")
        await r.cancel("a2")
        assert slots.busy("A") == 2
        await r.finish("a1")
        assert r.started == ["a1", "a3"]
        await r.finish("a3")
    assert slots.busy("A") == 0 and slots.running("A") == 0


@pytest.mark.anyio
async def test_after_its_patience_a_tenant_starts_beyond_the_share_up_to_its_cap() -> None:
    # A's first request is slow (waiting on I/O, say): its next ones start one by one,
    # each after a patience without a start, and never beyond the cap.
    slots = TenantSlots(per_tenant=3, process=1, patience=0.05)
    async with requests(slots) as r:
        await r.send("A", "a1", "a2", "a3", "a4")
        assert r.started == ["a1"]
        with anyio.fail_after(30):  # a guard against hanging, not a timing assertion
            while len(r.started) < 3:
                await anyio.sleep(0.01)
        assert r.started == ["a1", "a2", "a3"]
        await anyio.sleep(0.2)
        assert r.started == ["a1", "a2", "a3"]  # the cap of 3 holds whatever the wait
        await r.finish("a1")
        assert r.started[-1] == "a4"
        for name in ("a2", "a3", "a4"):
            await r.finish(name)
    assert slots.busy("A") == 0


@pytest.mark.anyio
@pytest.mark.parametrize("quiet", [math.inf, 0.0])
async def test_a_tenant_alone_runs_up_to_alone_and_yields_while_another_is_active(
    quiet: float,
) -> None:
    # PostgreSQL's setting: a tenant's requests mostly await the database, so alone it may
    # run its cap; once another tenant shows up, the share of 1 applies again.
    slots = TenantSlots(per_tenant=4, process=1, alone=4, patience=math.inf, quiet=quiet)
    async with requests(slots) as r:
        await r.send("A", "a1", "a2", "a3", "a4", "a5")
        assert r.started == ["a1", "a2", "a3", "a4"]  # the cap, not the share
        await r.send("B", "b1")  # B's first: at once
        await r.finish("a1")
        assert "a5" not in r.started  # B runs: A is over the share
        await r.finish("b1")
        if quiet:  # B was active lately: A stays at the share
            assert "a5" not in r.started
            await r.finish("a2")
            assert "a5" not in r.started
            for name in ("a3", "a4"):
                await r.finish(name)
            assert r.started[-1] == "a5"  # A's first again
        else:  # B is gone: A is alone, and runs 3 of its cap of 4
            assert r.started[-1] == "a5"
            for name in ("a2", "a3", "a4"):
                await r.finish(name)
        await r.finish("a5")
    assert slots.busy("A") == 0


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="per_tenant"):
        TenantSlots(0)
    with pytest.raises(ValueError, match="process"):
        TenantSlots(2, process=0)


async def _all_at_once(slots: TenantSlots, keys: list[str], in_turn: bool) -> list[str]:
    """Requests of ``keys`` that all arrive in one step of the loop and each run to their
    end without waiting (an SQLite read on the loop); the order they ran in."""
    ran: list[str] = []

    async def request(key: str) -> None:
        hold = slots.hold_in_turn(key) if in_turn else slots.hold(key)
        async with hold:
            ran.append(key)

    async with anyio.create_task_group() as tg:
        for key in keys:
            tg.start_soon(request, key)
    return ran


@pytest.mark.anyio
async def test_requests_due_together_take_turns_by_key_not_arrival() -> None:
    arrivals = ["A"] * 6 + ["B"]
    # hold() sees one request at a time (none overlaps another): arrival order.
    assert await _all_at_once(TenantSlots(4, process=1), arrivals, in_turn=False) == arrivals
    slots = TenantSlots(4, process=1)
    ran = await _all_at_once(slots, arrivals, in_turn=True)
    assert ran.index("B") <= 1, ran  # B's one request waits for at most one of A's
    assert sorted(ran) == sorted(arrivals) and slots.busy("A") == slots.busy("B") == 0


@pytest.mark.anyio
async def test_a_request_cancelled_while_queueing_in_turn_leaves_no_trace() -> None:
    slots = TenantSlots(4, process=1)
    with anyio.CancelScope() as scope:
        scope.cancel()
        async with slots.hold_in_turn("A"):
            pytest.fail("a cancelled request must not start")
    assert slots.busy("A") == 0
    async with slots.hold_in_turn("A"):  # and the key is served as before
        assert slots.running("A") == 1
