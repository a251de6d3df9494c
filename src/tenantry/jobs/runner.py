"""Jobs that keep their tenant: enqueued with tenant and actor, re-checked, run in scope.

A job is a plain function ``fn(session, ctx, **kwargs)``. ``enqueue`` records the
tenant and the acting user with it; before it runs, the worker reads the tenant
and the membership again (a job queued before a suspension or a removal is
refused, not run), then calls it inside ``tenant_scope`` with a session of its
own, so the scoping hook and RLS hold exactly as they do for requests.

Platform jobs (maintenance across tenants, such as purging deleted tenants, or
sending a mail) are registered apart with :meth:`Jobs.platform_job` and run with
no tenant context at all: a tenant table read there fails closed, exactly as in a
request without a tenant. A tenant job cannot be enqueued without its tenant.

With a spool and no Redis, every job passes through the spool on its way to run
in this process, and its file stays until it has run: a process killed meanwhile
runs it at its next start. With Redis, the stream holds it until a worker ran it.
Either way jobs run at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLTimeoutError
from sqlalchemy.orm import Session
from taskiq import AsyncBroker, InMemoryBroker
from taskiq.exceptions import SendTaskError

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.errors import TenantryError
from tenantry.ids import TenantId, UserId
from tenantry.jobs.spool import Spool, Taken
from tenantry.models import Membership, Tenant, TenantStatus
from tenantry.redis_url import limits_storage_url
from tenantry.roles import Role
from tenantry.scoping import bind_tenant

if TYPE_CHECKING:
    from tenantry.placement import Placements

log = logging.getLogger("tenantry.jobs")

JobFunction = Callable[..., Any]
# Seconds a thread waits for the event loop to take a job it hands over (Redis answers in ms;
# an unreachable one is given up after its 1 s connect timeout and the job spooled).
HANDOVER_TIMEOUT = 10.0
# Spooled jobs taken at once (queued per round with Redis; running at once without).
SPOOL_BATCH = 32
# A job that fails on the database (locked, unreachable, a serialization failure) is run
# again after these waits; after the last one, or at once for any other error, it has
# failed for good and its failure hook (``job(name, on_failure=...)``) says so.
RETRY_WAITS = (5.0, 30.0, 120.0, 600.0)
# (ctx, the job's keyword arguments, what went wrong), in the job's tenant scope.
FailureHook = Callable[[TenantContext, dict[str, Any], str], None]


class JobRefused(TenantryError):
    """The job's tenant is no longer active, or its actor no longer a member."""

    code = "job_refused"
    status = 409


class UnknownJob(TenantryError):
    code = "unknown_job"
    status = 500


@dataclass(frozen=True)
class Periodic:
    """A platform job queued every ``seconds`` by one of the workers sharing the queue."""

    name: str
    seconds: int


class Jobs:
    """The job registry and queue of one application.

    Args:
        db: the database jobs run against.
        redis_url: a shared queue (``redis://…``); ``None`` runs jobs in this process.
        queue: the Redis stream's name.
        spool_dir: where jobs wait while Redis is unreachable, or for their time, or
            (without Redis) to run here (none: enqueue raises while Redis is down, and
            nothing can wait for its time).
    """

    def __init__(
        self,
        db: Database,
        *,
        redis_url: str | None = None,
        queue: str = "tenantry:jobs",
        spool_dir: Path | None = None,
    ) -> None:
        self.db = db
        # Set by Tenancy when tenants may live in databases of their own (tenantry.placement).
        self.placements: Placements | None = None
        self.shared = redis_url is not None
        self.broker: AsyncBroker
        if redis_url:  # the redis extra; taskiq wraps its failures in SendTaskError
            from tenantry.jobs.broker import ResilientStreamBroker

            self.broker = ResilientStreamBroker(redis_url, queue)
        else:
            self.broker = InMemoryBroker()

        # taskiq keeps a registered function in its module's namespace, for good: through
        # ``self`` it would keep the last Jobs made, and its Database, alive for good too.
        this = weakref.ref(self)

        async def tenantry_job(payload: dict[str, Any]) -> None:
            jobs = this()
            if jobs is None:
                raise RuntimeError("a job arrived for a job service that no longer exists")
            await jobs._execute(payload)

        # The loop of the running job service (``running``): threads hand jobs to it.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._held: dict[str, Taken] = {}  # spooled jobs running in this process
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy = 0  # hand-overs under way and jobs running in this process
        self._idle = threading.Condition()
        self._warned = False  # about jobs spooled while no service runs here
        self._task = self.broker.register_task(tenantry_job, task_name="tenantry.job")
        self._registry: dict[str, JobFunction] = {}
        self._on_failure: dict[str, FailureHook] = {}
        self._platform: dict[str, JobFunction] = {}
        self.periodic: list[Periodic] = []
        # "Once per period across every process" is a fixed window of one hit in the
        # limits library, counted in Redis when the queue is shared.
        self._once = FixedWindowRateLimiter(
            storage_from_string(limits_storage_url(redis_url or "memory://"))
        )
        self.spool = Spool(spool_dir) if spool_dir else None

    def job(
        self, name: str, *, on_failure: FailureHook | None = None
    ) -> Callable[[JobFunction], JobFunction]:
        """Register ``fn(session, ctx, **kwargs)`` under ``name`` (unique per application).

        A run that fails on the database is tried again (:data:`RETRY_WAITS`); one that
        fails for good calls ``on_failure(ctx, kwargs, message)`` in the job's tenant
        scope, so that whatever shows the job's progress can say it failed.
        """

        def register(fn: JobFunction) -> JobFunction:
            if name in self._registry and self._registry[name] is not fn:
                raise ValueError(f"a job named {name!r} is already registered")
            self._registry[name] = fn
            if on_failure is not None:
                self._on_failure[name] = on_failure
            return fn

        return register

    def platform_job(
        self, name: str, *, every: int | None = None
    ) -> Callable[[JobFunction], JobFunction]:
        """Register ``fn(session, **kwargs)``, run with no tenant context; ``every``
        seconds it is queued by the workers (once per period, whatever their number)."""

        def register(fn: JobFunction) -> JobFunction:
            # ``!=``: a bound method registered again is equal to, not the same as, the first.
            if name in self._platform and self._platform[name] != fn:
                raise ValueError(f"a platform job named {name!r} is already registered")
            self._platform[name] = fn
            if every is not None:
                self.periodic.append(Periodic(name, every))
            return fn

        return register

    async def enqueue_platform(self, name: str, **kwargs: Any) -> str:
        """Queue platform job ``name`` (no tenant); returns its id."""
        payload = self._platform_payload(name, kwargs)
        await self._send(payload)
        return str(payload["id"])

    def submit_platform(self, name: str, **kwargs: Any) -> str:
        """Queue platform job ``name`` from synchronous code (a commit hook, a job); its id.

        Safe from any thread. From a worker thread it returns once the job is in the
        queue or the spool (the thread waits, never the event loop); on the event
        loop's own thread it is handed over in a task. With no job service running in
        this process the job waits in the spool for one.
        """
        payload = self._platform_payload(name, kwargs)
        loop = self._loop
        if self.spool is not None and (not self.shared or loop is None):
            self._spool_here(payload)
        elif loop is None:
            raise RuntimeError("no job service runs in this process and there is no spool")
        elif _on(loop):
            self._working(+1)
            self._keep(loop.create_task(self._send_counted(payload)))
        else:
            self._hand_over(loop, payload)
        return str(payload["id"])

    def _hand_over(self, loop: asyncio.AbstractEventLoop, payload: dict[str, Any]) -> None:
        """From a thread: queue ``payload`` on ``loop`` and wait until it is in the queue or
        the spool. A loop that stopped or does not answer: it goes to the spool from here
        (should the loop queue it after all, it runs twice: at least once, never lost)."""
        self._working(+1)
        try:
            future = asyncio.run_coroutine_threadsafe(self._send(payload), loop)
            try:
                future.result(timeout=HANDOVER_TIMEOUT)
            except TimeoutError:
                future.cancel()
                raise
        except (TimeoutError, RuntimeError) as exc:  # RuntimeError: the loop is closed
            if self.spool is None:
                raise
            log.warning("job %s not handed over (%r): spooled", payload["name"], exc)
            self.spool.put(payload)
        finally:
            self._working(-1)

    def later(self, name: str, seconds: float, **kwargs: Any) -> str:
        """Queue platform job ``name`` to run in ``seconds``; it waits in the spool till then.

        The spool is this machine's disk: the job leaves it when a job service
        runs here (any server or worker process sharing the directory).
        """
        if self.spool is None:
            raise RuntimeError("a job can wait for its time only in a spool")
        payload = self._platform_payload(name, kwargs)
        self.spool.put(payload, at=time.time() + seconds)
        return str(payload["id"])

    def set_aside(self, name: str, **kwargs: Any) -> Path | None:
        """Keep platform job ``name`` that will not be tried again in the spool's ``failed/``."""
        if self.spool is None:
            return None
        return self.spool.set_aside(self._platform_payload(name, kwargs))

    def _platform_payload(self, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        if name not in self._platform:
            raise UnknownJob(f"no platform job named {name!r} is registered")
        return {"id": uuid.uuid4().hex, "name": name, "tenant_id": None, "kwargs": kwargs}

    async def queue_due(self) -> list[str]:
        """Queue the periodic jobs whose period has started and no process queued yet."""
        queued = []
        for item in self.periodic:
            window = RateLimitItemPerSecond(1, item.seconds)
            try:
                due = self._once.hit(window, "tenantry:periodic", item.name)
            except Exception as exc:  # the shared storage is down: try again next tick
                log.warning("periodic %s not queued (%s)", item.name, type(exc).__name__)
                continue
            if due:
                await self.enqueue_platform(item.name)
                queued.append(item.name)
        return queued

    async def enqueue(self, name: str, ctx: TenantContext, **kwargs: Any) -> str:
        """Queue job ``name`` to run in ``ctx.tenant_id`` as ``ctx.user_id``; returns its id.

        ``kwargs`` must be JSON values. While Redis is unreachable the job waits in
        the spool and is queued when Redis answers again.
        """
        if name not in self._registry:
            raise UnknownJob(f"no job named {name!r} is registered")
        payload = {
            "id": uuid.uuid4().hex,
            "name": name,
            "tenant_id": str(ctx.tenant_id),
            "actor_id": ctx.user_id,
            "kwargs": kwargs,
        }
        await self._send(payload)
        return str(payload["id"])

    async def _send(self, payload: dict[str, Any]) -> None:
        # The spool is a file write: in a thread, the event loop never waits on the disk.
        if self.spool is not None and not self.shared:  # runs here, from the spool
            await asyncio.to_thread(self._spool_here, payload)
            return
        try:
            await self._task.kiq(payload)
        except (SendTaskError, OSError) as exc:
            if self.spool is None:
                raise
            log.warning(
                "job queue unreachable (%s): job %s spooled", type(exc).__name__, payload["name"]
            )
            await asyncio.to_thread(self.spool.put, payload)

    def _spool_here(self, payload: dict[str, Any]) -> None:
        assert self.spool is not None
        self.spool.put(payload)
        if self._loop is None and not self._warned:
            self._warned = True
            # Info, not a warning: `serve --demo` seeds (and mails) before its lifespan starts.
            log.info(
                "job %s is kept in %s until a job service runs (the app's lifespan starts one)",
                payload["name"],
                self.spool.directory,
            )
        self._poke()

    async def _send_counted(self, payload: dict[str, Any]) -> None:
        try:
            await self._send(payload)
        finally:
            self._working(-1)

    async def drain_spool(self) -> int:
        """Queue (with Redis) or start (without) the spooled jobs that are due, oldest
        first; with Redis it stops at the first failure. Returns how many."""
        if self.spool is None:
            return 0
        sent = 0
        while True:
            # Each entry taken holds a file open: a bounded batch, not a backlog's worth.
            taken = await asyncio.to_thread(self._take_due, SPOOL_BATCH - len(self._held))
            for index, item in enumerate(taken):
                if not self.shared:  # it runs here; its file goes once it has run
                    self._held[item.path.name] = item
                    self._keep(asyncio.create_task(self._run_taken(item)))
                    sent += 1
                    continue
                try:
                    await self._task.kiq(item.payload)
                except (SendTaskError, OSError):
                    for rest in taken[index:]:
                        rest.release()
                    return sent
                item.done()
                sent += 1
            if not self.shared or len(taken) < SPOOL_BATCH:
                return sent

    def _take_due(self, limit: int) -> list[Taken]:
        assert self.spool is not None
        taken: list[Taken] = []
        for path in self.spool.due():
            if len(taken) >= limit:
                break
            if path.name not in self._held and (item := self.spool.take(path)) is not None:
                taken.append(item)
        return taken

    async def _run_taken(self, item: Taken) -> None:
        try:
            await self._execute(item.payload)
        except asyncio.CancelledError:  # stopping: its file stays for the next start
            self._held.pop(item.path.name, None)
            item.release()
            raise
        except Exception:
            log.exception("job %s failed", item.payload["name"])
        self._held.pop(item.path.name, None)
        item.done()
        self._working()  # wakes wait_idle: the entry is gone
        self._poke()  # room for one more

    async def _execute(self, payload: dict[str, Any]) -> None:
        # The job's synchronous session runs in a worker thread, off the event loop.
        # A refused job is dropped (recheck() logged why), not retried.
        self._working(+1)
        try:
            with contextlib.suppress(JobRefused):
                try:
                    await asyncio.to_thread(self.run, payload)
                except Exception as exc:
                    await self._failed(payload, exc)
        finally:
            self._working(-1)

    async def _failed(self, payload: dict[str, Any], exc: Exception) -> None:
        """Queue a run that failed on the database again, after a wait; give up on the
        last attempt or any other error, with the job's failure hook. Acknowledged
        either way: a failing job that stayed in the queue would be claimed for ever."""
        attempt = int(payload.get("attempt", 1))
        name = payload["name"]
        if isinstance(exc, OperationalError | SQLTimeoutError) and attempt <= len(RETRY_WAITS):
            wait = RETRY_WAITS[attempt - 1]
            log.warning(
                "job %s failed (%s), attempt %d: tried again in %.0f s",
                name,
                type(exc).__name__,
                attempt,
                wait,
            )
            await self._send_later({**payload, "attempt": attempt + 1}, wait)
            return
        log.error("job %s failed for good (attempt %d)", name, attempt, exc_info=exc)
        hook = self._on_failure.get(name)
        if hook is not None and payload["tenant_id"] is not None:
            message = _failure_message(exc)
            await asyncio.to_thread(self._call_hook, hook, payload, message)

    @staticmethod
    def _call_hook(hook: FailureHook, payload: dict[str, Any], message: str) -> None:
        actor = payload.get("actor_id")
        ctx = TenantContext(
            TenantId(uuid.UUID(payload["tenant_id"])),
            UserId(actor) if actor is not None else None,
            Role.VIEWER,  # the hook reports on the job; it changes no tenant data
        )
        try:
            with tenant_scope(ctx):
                hook(ctx, dict(payload["kwargs"]), message)
        except Exception:
            log.exception("the failure hook of job %s failed", payload["name"])

    async def _send_later(self, payload: dict[str, Any], seconds: float) -> None:
        """``payload`` queued again in ``seconds``: in the spool (kept across restarts),
        else by a task of this process's loop."""
        if self.spool is not None:
            await asyncio.to_thread(self.spool.put, payload, at=time.time() + seconds)
            self._poke()
            return

        async def later() -> None:
            await asyncio.sleep(seconds)
            await self._send(payload)

        self._keep(asyncio.get_running_loop().create_task(later()))

    def _working(self, change: int = 0) -> None:
        with self._idle:
            self._busy += change
            self._idle.notify_all()

    def _keep(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _poke(self) -> None:
        """Wake the spool's drain: a job is waiting in it."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        if _on(loop):
            wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(wake.set)

    async def nap(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when a job is put in the spool."""
        if self._wake is None:
            await asyncio.sleep(seconds)
            return
        # Not asyncio.wait_for: on 3.11 it can swallow a cancellation that meets the wake-up,
        # and a service being stopped would then nap on forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()

    @property
    def running(self) -> bool:
        """Whether this process runs a job service (the app's lifespan starts one)."""
        return self._loop is not None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no job of this process is being handed over or run and none in
        the spool is due (tests, scripts); True when idle in time."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy or self._held or (self.spool is not None and self.spool.due()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    def run(self, payload: dict[str, Any]) -> None:
        """Re-check the tenant and the actor, then run the job in the tenant's scope."""
        if payload["tenant_id"] is None:
            platform = self._platform.get(payload["name"])
            if platform is None:
                raise UnknownJob(f"no platform job named {payload['name']!r} is registered")
            with self.db.session() as session:  # no tenant scope: tenant tables fail closed
                platform(session, **payload["kwargs"])
            return
        fn = self._registry.get(payload["name"])
        if fn is None:
            raise UnknownJob(f"no job named {payload['name']!r} is registered")
        with self.db.session() as control:
            ctx = recheck(
                control, tenant_id=uuid.UUID(payload["tenant_id"]), actor_id=payload["actor_id"]
            )
        with tenant_scope(ctx), self.db.session() as session:
            if self.placements is not None:
                bind_tenant(session, ctx)
                self.placements.route(session, ctx.tenant_id)
            fn(session, ctx, **payload["kwargs"])

    async def startup(self) -> None:
        await self.broker.startup()
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()

    async def settle(self, timeout: float) -> None:
        """Give the jobs running in this process ``timeout`` seconds to finish, then stop
        them (a spooled one stays in the spool for the next start)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))

    async def shutdown(self) -> None:
        self._loop = self._wake = None
        await self.broker.shutdown()


def _failure_message(exc: Exception) -> str:
    """What a job's owner is told: a refusal's own message, else the kind of fault."""
    if isinstance(exc, TenantryError):
        return exc.message
    if isinstance(exc, OperationalError | SQLTimeoutError):
        return "the database could not run it (it was tried again, and failed every time)"
    return f"it failed ({type(exc).__name__})"


def _on(loop: asyncio.AbstractEventLoop) -> bool:
    """True on ``loop``'s own thread."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def recheck(session: Session, *, tenant_id: uuid.UUID, actor_id: int | None) -> TenantContext:
    """The job's context as of now; :class:`JobRefused` if tenant or membership are gone."""
    status = session.scalar(select(Tenant.status).where(Tenant.id == tenant_id))
    if status != TenantStatus.ACTIVE.value:
        log.warning("job refused: tenant %s is %s", tenant_id, status or "gone")
        raise JobRefused("the job's tenant is not active")
    role = Role.OWNER
    if actor_id is not None:
        found = session.scalar(
            select(Membership.role).where(
                Membership.tenant_id == tenant_id, Membership.user_id == actor_id
            )
        )
        if found is None:
            log.warning("job refused: user %s left tenant %s", actor_id, tenant_id)
            raise JobRefused("the job's actor is no longer a member of its tenant")
        role = Role(found)
    actor = UserId(actor_id) if actor_id is not None else None
    return TenantContext(TenantId(tenant_id), actor, role)
