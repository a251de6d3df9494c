"""Per-tenant concurrency caps and a fair share of the process, so one tenant's flood
cannot take a whole process.

A request holds one of its tenant's slots from the moment its membership is
known until its commit. A tenant at its cap queues its own requests (in arrival
order, on the event loop, holding no thread, connection or lock) while every
other tenant's requests go straight through.

The cap alone still lets a flooding tenant run ``per_tenant`` requests beside a
quiet tenant's one, and in one process they share one GIL: the quiet request ran
~4x slower. So a process has a share, ``process`` requests: a tenant's first
request always starts at once, but its second and later ones start only while
fewer than ``process`` requests run in all, and a freed slot goes to the waiting
tenant running the fewest. A tenant alone uses the whole share. Its requests that
run long are waiting on I/O rather than holding the GIL, so after ``patience``
seconds without a new start its next request starts anyway (up to its cap): a
slow export does not hold up the same household's next page for long.

Long, not merely slow: on a machine short of cores a request that computes runs
past a tenth of a second only because it waits for one. With a patience of 0.1 s,
two workers on two cores ran two of a flooding tenant's dashboards each, and another
tenant's page went to 1.1-5.4x its idle p99 (median 3.9x, three rounds); with 0.5 s,
1.1-2.7x (median 1.3x), while the flood itself went from 94-140 to 70-93 req/s: the
flooding tenant gives up a third of its rate so that others keep theirs.

Across worker processes, a :class:`~tenantry.web.board.Board` extends the share to
the machine: a tenant's first request is its first on the machine, and while another
tenant runs or ended a request in the last ``quiet`` seconds on any worker, a tenant's
later requests start only while fewer than ``process`` run on the whole machine. A
tenant alone still uses every worker's share. (Without ``quiet``, a flooding tenant's
queued request took the moment between another tenant's two requests.)

A tenant alone (no other tenant holding a slot or releasing one in the last ``quiet``
seconds) may run ``alone`` requests, more than the share where they mostly await the
database: on PostgreSQL a lone tenant's POSTs otherwise waited for each other's round
trips.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager

import anyio
import anyio.lowlevel

from tenantry.web.board import NO_ENDS, NOTHING, Board, board_key, other_ended, with_end

# How often a waiter whose turn depends on other processes looks at the board again.
_BOARD_POLL_S = 0.005


class Abandoned(Exception):
    """The request stopped waiting for its turn: its client went away meanwhile."""


class _Waiter:
    __slots__ = ("event", "granted")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.granted = False


class TenantSlots:
    """At most ``per_tenant`` holders per key at once; beyond each key's first, at most
    ``process`` holders in all (``None``: no share) unless the key started none for
    ``patience`` seconds. A key alone (no other key holds a slot or released one in the
    last ``quiet`` seconds) may hold ``alone`` (default: ``process``). Waiters of one key
    are served first come, first served."""

    def __init__(
        self,
        per_tenant: int,
        process: int | None = None,
        *,
        patience: float = 0.5,
        alone: int | None = None,
        board: Board | None = None,
        quiet: float = 0.1,
    ) -> None:
        if per_tenant < 1:
            raise ValueError("per_tenant must be at least 1")
        if process is not None and process < 1:
            raise ValueError("process must be at least 1")
        self.per_tenant = per_tenant
        self.process = process
        self.patience = patience
        self.alone = alone if alone is not None else (process or per_tenant)
        self.board = board
        self.quiet = quiet
        self._running: dict[Hashable, int] = {}
        self._last_start: dict[Hashable, float] = {}
        self._total = 0
        # The two latest keys to release a slot, and when (tenantry.web.board.with_end).
        self._ends = NO_ENDS
        # Keys with waiters, in the order they began to wait (a key served moves last).
        self._waiting: dict[Hashable, deque[_Waiter]] = {}

    @asynccontextmanager
    async def hold(
        self, key: Hashable, *, until: Callable[[], Awaitable[None]] | None = None
    ) -> AsyncIterator[None]:
        """Wait for one of ``key``'s slots and hold it for the block.

        ``until``: as for :meth:`hold_in_turn` (a wait it outlasts raises :class:`Abandoned`).
        """
        if key not in self._waiting and self._may_start(key):
            self._take(key)
        elif until is None:
            await self._wait(key, self._enqueue(key))
        else:
            await self._wait_unless(key, self._enqueue(key), until)
        try:
            yield
        finally:
            self._release(key)

    @asynccontextmanager
    async def hold_in_turn(
        self, key: Hashable, *, until: Callable[[], Awaitable[None]] | None = None
    ) -> AsyncIterator[None]:
        """:meth:`hold`, but the request first queues and lets the loop run once, so the
        requests already due on it queue too, and turns are then given among all of them.

        Requests that run from start to end in one step of the event loop never overlap:
        :meth:`hold` would see one at a time and serve them in the order the loop runs
        them, which is arrival order (a tenant's 24 queued requests before another's one).

        ``until``: awaited beside a wait that is not granted at once; should it return
        first (the client went away), the request leaves the queue and :class:`Abandoned`
        is raised, so a queue of requests nobody waits for no longer takes turns.
        """
        waiter = self._enqueue(key)
        try:
            await anyio.lowlevel.checkpoint()
        except BaseException:
            self._dequeue(key, waiter)
            raise
        self._grant()
        if until is None or waiter.granted:
            await self._wait(key, waiter)
        else:
            await self._wait_unless(key, waiter, until)
        try:
            # Granted maybe as another request ended, in this same step of the loop: start
            # in the next one, after the loop polled its sockets for new requests.
            await anyio.lowlevel.checkpoint()
            yield
        finally:
            self._release(key)

    def busy(self, key: Hashable) -> int:
        """How many of ``key``'s requests hold a slot or wait for one."""
        return self._running.get(key, 0) + len(self._waiting.get(key, ()))

    def running(self, key: Hashable) -> int:
        """How many of ``key``'s requests hold a slot."""
        return self._running.get(key, 0)

    def _may_start(self, key: Hashable) -> bool:
        running = self._running.get(key, 0)
        if running >= self.per_tenant:
            return False
        since = time.monotonic() - self.quiet  # "lately": ended after this
        elsewhere = NOTHING if self.board is None else self.board.look(board_key(key), since)
        if running + elsewhere.running == 0 or self.process is None:
            return True
        others_here = len(self._running) > (running > 0) or other_ended(self._ends, key, since)
        if not (others_here or elsewhere.others_active):
            if running < self.alone:  # alone on the machine
                return True
        elif self._total + elsewhere.total < self.process:  # the share is the machine's
            return True
        return self._patience_left(key, elsewhere.last_start) <= 0

    def _patience_left(self, key: Hashable, elsewhere: float = -1.0) -> float:
        """Seconds until ``key`` may start beyond the share (its last start, here or in
        another process, was that long ago)."""
        if self._running.get(key, 0) >= self.per_tenant:
            return math.inf
        last = max(self._last_start.get(key, -1.0), elsewhere)
        return 0.0 if last < 0 else last + self.patience - time.monotonic()

    def _take(self, key: Hashable) -> None:
        running = self._running[key] = self._running.get(key, 0) + 1
        now = self._last_start[key] = time.monotonic()
        self._total += 1
        if self.board is not None:
            self.board.started(board_key(key), running, self._total, now)

    def _enqueue(self, key: Hashable) -> _Waiter:
        waiter = _Waiter()
        self._waiting.setdefault(key, deque()).append(waiter)
        return waiter

    async def _wait(self, key: Hashable, waiter: _Waiter) -> None:
        """Wait until ``waiter`` (queued for ``key``) is granted its slot, or takes it."""
        try:
            while not waiter.granted:  # granted already: by the turn it queued for
                # Only the first waiter of a key watches the clock (its patience).
                head = self._waiting[key][0] is waiter
                with anyio.move_on_after(self._next_look(key) if head else math.inf):
                    await waiter.event.wait()
                if waiter.granted:
                    return
                waiter.event = anyio.Event()  # woken to watch the clock, or timed out
                if self._waiting[key][0] is waiter and self._may_start(key):
                    self._dequeue(key, waiter)
                    self._take(key)
                    return
        except BaseException:
            if waiter.granted:  # granted as it was cancelled: hand the slot on
                self._release(key)
            else:
                self._dequeue(key, waiter)
            raise

    async def _wait_unless(
        self, key: Hashable, waiter: _Waiter, until: Callable[[], Awaitable[None]]
    ) -> None:
        """:meth:`_wait`, given up (:class:`Abandoned`) if ``until()`` returns first."""
        gone = held = False
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                nonlocal gone
                await until()
                gone = True
                group.cancel_scope.cancel()

            group.start_soon(watch)
            await self._wait(key, waiter)  # cancelled: it leaves the queue or hands on
            held = True
            group.cancel_scope.cancel()
        if gone:
            if held:  # its slot came in the same step as the client left
                self._release(key)
            raise Abandoned

    def _dequeue(self, key: Hashable, waiter: _Waiter) -> None:
        queue = self._waiting[key]
        was_head = queue[0] is waiter
        queue.remove(waiter)
        if not queue:
            del self._waiting[key]
        elif was_head:
            queue[0].event.set()  # the new first waiter watches the clock now

    def _next_look(self, key: Hashable) -> float:
        """Seconds until the first waiter of ``key`` looks again whether it may start."""
        if self.board is not None and self._running.get(key, 0) < self.per_tenant:
            return _BOARD_POLL_S  # other processes' ends wake no one here
        return self._patience_left(key)

    def _release(self, key: Hashable) -> None:
        running = self._running[key] - 1
        if running:
            self._running[key] = running
        else:
            del self._running[key]
            del self._last_start[key]
        self._total -= 1
        now = time.monotonic()
        self._ends = with_end(self._ends, key, now)
        if self.board is not None:
            self.board.ended(board_key(key), running, self._total, now)
        self._grant()

    def _grant(self) -> None:
        """Start waiters while any may start: the key running the fewest first."""
        while self._waiting:
            ready = [key for key in self._waiting if self._may_start(key)]
            if not ready:
                return
            key = min(ready, key=self.running)  # min keeps the longest-waiting of a tie
            queue = self._waiting.pop(key)
            self._take(key)
            waiter = queue.popleft()
            waiter.granted = True
            waiter.event.set()
            if queue:
                self._waiting[key] = queue  # to the back: the others' turn first
                queue[0].event.set()  # its new first waiter watches the clock
