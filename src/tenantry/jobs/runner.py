"""Jobs that keep their tenant: enqueued with tenant and actor, re-checked, run in scope.

A job is a plain function ``fn(session, ctx, **kwargs)``. ``enqueue`` records the
tenant and the acting user with it; before it runs, the worker reads the tenant
and the membership again (a job queued before a suspension or a removal is
refused, not run), then calls it inside ``tenant_scope`` with a session of its
own, so the scoping hook and RLS hold exactly as they do for requests.

Platform jobs (maintenance across tenants, such as purging deleted tenants) are
registered apart with :meth:`Jobs.platform_job` and run with no tenant context at
all: a tenant table read there fails closed, exactly as in a request without a
tenant. A tenant job cannot be enqueued without its tenant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import select
from sqlalchemy.orm import Session
from taskiq import AsyncBroker, InMemoryBroker
from taskiq.exceptions import SendTaskError

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.errors import TenantryError
from tenantry.ids import TenantId, UserId
from tenantry.jobs.spool import Spool
from tenantry.models import Membership, Tenant, TenantStatus
from tenantry.roles import Role
from tenantry.scoping import bind_tenant

if TYPE_CHECKING:
    from tenantry.placement import Placements

log = logging.getLogger("tenantry.jobs")

JobFunction = Callable[..., Any]


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
        spool_dir: where jobs wait while Redis is unreachable (none: enqueue raises).
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

        async def tenantry_job(payload: dict[str, Any]) -> None:
            # The job's synchronous session runs in a worker thread, off the event loop.
            # A refused job is dropped (recheck() logged why), not retried.
            with contextlib.suppress(JobRefused):
                await asyncio.to_thread(self.run, payload)

        self._task = self.broker.register_task(tenantry_job, task_name="tenantry.job")
        self._registry: dict[str, JobFunction] = {}
        self._platform: dict[str, JobFunction] = {}
        self.periodic: list[Periodic] = []
        # "Once per period across every process" is a fixed window of one hit in the
        # limits library, counted in Redis when the queue is shared.
        self._once = FixedWindowRateLimiter(storage_from_string(redis_url or "memory://"))
        self.spool = Spool(spool_dir) if spool_dir else None

    def job(self, name: str) -> Callable[[JobFunction], JobFunction]:
        """Register ``fn(session, ctx, **kwargs)`` under ``name`` (unique per application)."""

        def register(fn: JobFunction) -> JobFunction:
            if name in self._registry and self._registry[name] is not fn:
                raise ValueError(f"a job named {name!r} is already registered")
            self._registry[name] = fn
            return fn

        return register

    def platform_job(
        self, name: str, *, every: int | None = None
    ) -> Callable[[JobFunction], JobFunction]:
        """Register ``fn(session, **kwargs)``, run with no tenant context; ``every``
        seconds it is queued by the workers (once per period, whatever their number)."""

        def register(fn: JobFunction) -> JobFunction:
            if name in self._platform and self._platform[name] is not fn:
                raise ValueError(f"a platform job named {name!r} is already registered")
            self._platform[name] = fn
            if every is not None:
                self.periodic.append(Periodic(name, every))
            return fn

        return register

    async def enqueue_platform(self, name: str, **kwargs: Any) -> str:
        """Queue platform job ``name`` (no tenant); returns its id."""
        if name not in self._platform:
            raise UnknownJob(f"no platform job named {name!r} is registered")
        payload = {"id": uuid.uuid4().hex, "name": name, "tenant_id": None, "kwargs": kwargs}
        await self._send(payload)
        return str(payload["id"])

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
        try:
            await self._task.kiq(payload)
        except (SendTaskError, OSError) as exc:
            if self.spool is None:
                raise
            log.warning(
                "job queue unreachable (%s): job %s spooled", type(exc).__name__, payload["name"]
            )
            self.spool.put(payload)

    async def drain_spool(self) -> int:
        """Queue spooled jobs, oldest first; stops at the first failure. Returns how many."""
        if self.spool is None:
            return 0
        sent = 0
        for path in self.spool.pending():
            try:
                await self._task.kiq(Spool.read(path))
            except (SendTaskError, OSError):
                break
            path.unlink()
            sent += 1
        return sent

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

    async def shutdown(self) -> None:
        await self.broker.shutdown()


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
