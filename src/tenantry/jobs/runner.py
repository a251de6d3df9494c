"""Jobs that keep their tenant: enqueued with tenant and actor, re-checked, run in scope.

A job is a plain function ``fn(session, ctx, **kwargs)``. ``enqueue`` records the
tenant and the acting user with it; before it runs, the worker reads the tenant
and the membership again (a job queued before a suspension or a removal is
refused, not run), then calls it inside ``tenant_scope`` with a session of its
own, so the scoping hook and RLS hold exactly as they do for requests. A job
with no tenant does not exist: there is no way to enqueue one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session
from taskiq import AsyncBroker, InMemoryBroker
from taskiq.exceptions import SendTaskError

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.errors import TenantryError
from tenantry.ids import TenantId, UserId
from tenantry.jobs.broker import ResilientStreamBroker
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
        self.broker: AsyncBroker = (
            ResilientStreamBroker(redis_url, queue) if redis_url else InMemoryBroker()
        )

        async def tenantry_job(payload: dict[str, Any]) -> None:
            # The job's synchronous session runs in a worker thread, off the event loop.
            # A refused job is dropped (recheck() logged why), not retried.
            with contextlib.suppress(JobRefused):
                await asyncio.to_thread(self.run, payload)

        self._task = self.broker.register_task(tenantry_job, task_name="tenantry.job")
        self._registry: dict[str, JobFunction] = {}
        self.spool = Spool(spool_dir) if spool_dir else None

    def job(self, name: str) -> Callable[[JobFunction], JobFunction]:
        """Register ``fn(session, ctx, **kwargs)`` under ``name`` (unique per application)."""

        def register(fn: JobFunction) -> JobFunction:
            if name in self._registry and self._registry[name] is not fn:
                raise ValueError(f"a job named {name!r} is already registered")
            self._registry[name] = fn
            return fn

        return register

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
        try:
            await self._task.kiq(payload)
        except (SendTaskError, RedisError, OSError) as exc:
            if self.spool is None:
                raise
            log.warning("job queue unreachable (%s): job %s spooled", type(exc).__name__, name)
            self.spool.put(payload)
        return str(payload["id"])

    async def drain_spool(self) -> int:
        """Queue spooled jobs, oldest first; stops at the first failure. Returns how many."""
        if self.spool is None:
            return 0
        sent = 0
        for path in self.spool.pending():
            try:
                await self._task.kiq(Spool.read(path))
            except (SendTaskError, RedisError, OSError):
                break
            path.unlink()
            sent += 1
        return sent

    def run(self, payload: dict[str, Any]) -> None:
        """Re-check the tenant and the actor, then run the job in the tenant's scope."""
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
