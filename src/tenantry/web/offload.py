"""Database work of async code runs in worker threads: the event loop never waits on a database.

Two pools of threads. Starlette's default one runs ``def`` routes and
membership checks. Commits and rollbacks get their own: a request that holds a
connection (or SQLite's write lock) must never queue for a thread behind
requests that are themselves waiting for that connection or lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar

T = TypeVar("T")

# Never more finishing than connections checked out; the cap only bounds threads.
_FINISHING_THREADS = 256
_finishers: RunVar[anyio.CapacityLimiter] = RunVar("tenantry_finishers")


async def in_thread(func: Callable[..., T], *args: object) -> T:
    """Run blocking ``func(*args)`` in a worker thread, in a copy of the current context."""
    return await anyio.to_thread.run_sync(func, *args)


async def finish_in_thread(func: Callable[..., T], *args: object) -> T:
    """Run a commit or rollback in a thread of its own pool, even when being cancelled."""
    try:
        limiter = _finishers.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(_FINISHING_THREADS)
        _finishers.set(limiter)
    with anyio.CancelScope(shield=True):
        result = await anyio.to_thread.run_sync(func, *args, limiter=limiter)
    return result
