"""``Tenancy``: the object a host creates to make its FastAPI app tenant-aware."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from sqlalchemy.orm import Session

from tenantry.accounts import get_user
from tenantry.cache import TenantCache, backend_from_url
from tenantry.context import TenantContext
from tenantry.db import Database, InlineReads, has_async_driver
from tenantry.hooks import SessionFactory
from tenantry.inline_writes import InlineWrites
from tenantry.jobs import Jobs, running
from tenantry.mail import Postman
from tenantry.mail.notices import Mailroom
from tenantry.placement import Placements
from tenantry.placement.moves import MOVE_JOB, move_job
from tenantry.plans import (
    DEFAULT_CATALOGUE,
    REQUESTS_PER_MINUTE,
    Catalogue,
    UsageMeter,
    check_row_limits,
    install_metering,
    install_quotas,
)
from tenantry.retention import purge_expired
from tenantry.roles import Role
from tenantry.security.passwords import Passwords
from tenantry.security.refresh import issue_refresh
from tenantry.security.tokens import TokenService
from tenantry.web.board import Board
from tenantry.web.body_limit import BodyLimitMiddleware
from tenantry.web.config import DEFAULT_PUBLIC_URL, TenancyConfig
from tenantry.web.errors import install_error_handlers
from tenantry.web.login_throttle import LoginThrottle
from tenantry.web.openapi import install_openapi
from tenantry.web.path_prefix import TenantPathMiddleware
from tenantry.web.platform import PlatformGateMiddleware
from tenantry.web.ratelimit import RateLimits
from tenantry.web.resolution import RecentChecks, TenantClaim, resolve_membership
from tenantry.web.routes import (
    accounts,
    admin,
    admin_import,
    admin_placement,
    export,
    invites,
    plans,
    privacy,
    retention,
    tenants,
)
from tenantry.web.schemas import TokenPair
from tenantry.web.shared_routes import add_routes
from tenantry.web.slots import TenantSlots
from tenantry.web.turns import CredentialTurns

if TYPE_CHECKING:
    from tenantry.async_db import AsyncSessions
    from tenantry.billing import Billing, BillingConfig

PURGE_JOB = "tenantry.purge"

log = logging.getLogger(__name__)


class Tenancy:
    """Holds the database, token service, password hasher, rate limits and plan catalogue.

    Usage::

        tenancy = Tenancy(db, TenancyConfig(secret_key=...), catalogue=my_plans)
        app = FastAPI()
        tenancy.install(app)

    The catalogue (default: ``tenantry.plans.DEFAULT_CATALOGUE``) is installed on the
    database's sessions: member and row quotas hold for every session they make.
    """

    def __init__(
        self,
        db: Database,
        config: TenancyConfig,
        passwords: Passwords | None = None,
        *,
        catalogue: Catalogue | None = None,
        postman: Postman | None = None,
        billing: BillingConfig | None = None,
        placements: Placements | None = None,
    ) -> None:
        self.db = db
        # Where each tenant's rows live (tenantry.placement); None: all in db's tables.
        self.placements = placements
        if placements is not None:
            placements.install(db)
        self.config = config
        self.passwords = passwords or Passwords()
        # Without a postman, mails go to config.outbox_dir (./var/outbox) as .eml files.
        self.postman = postman or Postman.outbox(
            config.outbox_dir or Path("var/outbox"),
            sender=f"{config.site_name} <no-reply@localhost>",
        )
        self.mail = Mailroom(
            site=config.site_name,
            public_url=config.public_url or DEFAULT_PUBLIC_URL,
            links=config.links,
        )
        if config.public_url is None and postman is not None:
            log.warning(
                "links in mails point at %s: set TenancyConfig(public_url=...) to the "
                "address people open",
                DEFAULT_PUBLIC_URL,
            )
        self.tokens = TokenService(
            config.secret_key,
            issuer=config.issuer,
            audience=config.audience,
            access_ttl=config.access_ttl,
        )
        storage = config.rate_limit_storage
        if storage == "memory://" and config.redis_url:
            storage = config.redis_url
        self.limits = RateLimits(
            storage, fail_open=config.rate_limit_fail_open, enabled=config.rate_limits
        )
        self.cache = TenantCache(backend_from_url(config.cache_url or config.redis_url))
        self.jobs = Jobs(
            db, redis_url=config.redis_url, spool_dir=config.jobs_spool_dir or Path("var/spool")
        )
        self.jobs.placements = placements
        self.jobs.platform_job(PURGE_JOB, every=config.purge_every)(
            purge_expired if placements is None else placements.purge_expired
        )
        if placements is not None:  # moves asked for in the console and the admin API
            self.jobs.platform_job(MOVE_JOB)(move_job(placements))
        # The membership check (its read and the rate-limit count) on the event loop when
        # neither blocks on I/O: an SQLite file read inline (tenantry.db), or a PostgreSQL
        # round trip awaited through the async driver (no placements); rate limits counted
        # in process. Route reads (``Reads``) use the same; with placements, those of a
        # tenant whose database is an SQLite file too (Placements.inline_route).
        local_counts = not config.request_budgets or self.limits.in_process
        self.inline_reads: InlineReads | None = None
        if local_counts:
            self.inline_reads = db.inline_reads()
            if placements is not None and self.inline_reads is not None:
                placements.install_inline(self.inline_reads)
        # Route writes (``Writes``) on the loop too, where the reads are and each tenant's
        # rows are in db's own file (tenantry.inline_writes).
        self.inline_writes: InlineWrites | None = None
        if self.inline_reads is not None and placements is None:
            self.inline_writes = db.inline_writes()
        self.async_reads: AsyncSessions | None = None
        if placements is None and not db.is_sqlite and has_async_driver():
            self.async_reads = db.aio
        self.async_checks = self.async_reads if local_counts else None
        # A tenant alone on the machine runs up to its cap where its requests mostly await
        # PostgreSQL (measured: a single tenant's POSTs 323 -> 445 req/s); on SQLite more than
        # the share only queues on the write lock and the GIL (416-491 -> 400).
        alone = config.tenant_concurrency if self.async_reads is not None else None
        board = None if config.worker_board is None else Board(config.worker_board)
        share = config.process_concurrency
        self.slots = TenantSlots(config.tenant_concurrency, share, alone=alone, board=board)
        self.user_slots = TenantSlots(config.tenant_concurrency)
        self.recent_checks = RecentChecks()
        self.credential_slots = TenantSlots(config.tenant_concurrency, share, alone=alone)
        self.catalogue = catalogue or DEFAULT_CATALOGUE
        self.meter = UsageMeter(
            db.sessions,
            reads=db.read_sessions,
            catalogue=self.catalogue,
            interval=config.usage_flush_seconds,
            enabled=config.metering,
        )
        self.login_throttle = LoginThrottle(self.limits, config.login_policy)
        # Off unless configured: without it nothing imports stripe (docs/billing.md).
        self.billing: Billing | None = None
        if billing is not None:
            from tenantry.billing import Billing

            self.billing = Billing(db, billing, self.catalogue)
        db.setup_sessions(self._set_up_sessions)

    def _set_up_sessions(self, factory: SessionFactory, writes: bool) -> None:
        """This tenancy's hooks on each of the database's session factories, async included.

        Read-only sessions (GET pages) read the plan too: they need the catalogue.
        """
        if writes:
            self.mail.install(factory)
            self.cache.install(factory)
            self.postman.install(factory, self.jobs)  # mails are jobs: they leave after commit
        install_quotas(factory, self.catalogue)
        install_metering(factory, self.meter)
        if writes and self.billing is not None:
            self.billing.install(factory)

    def admit(self, ctx: TenantContext) -> None:
        """Count a request against its tenant's and its user's budgets (429 past either).

        The tenant's rate is its own ``requests_per_minute`` override when it has one,
        else its plan's when the plan names one (``None``: unlimited), else
        ``TenancyConfig.tenant_rate``. Both are read with the membership.
        """
        if not self.config.request_budgets:
            return
        rate: str | None = self.config.tenant_rate
        if ctx.rate_overridden:  # this tenant's own budget, over its plan
            rate = None if ctx.rate_override is None else f"{ctx.rate_override}/minute"
        elif ctx.plan is not None:
            limits = self.catalogue.get(ctx.plan).limits
            if REQUESTS_PER_MINUTE in limits:
                per_minute = limits[REQUESTS_PER_MINUTE]
                rate = None if per_minute is None else f"{per_minute}/minute"
        if rate is not None:
            self.limits.hit_key(rate, "tenant", str(ctx.tenant_id))
        if ctx.user_id is not None:
            self.limits.hit_key(self.config.user_rate, "user", str(ctx.user_id))

    def install(self, app: FastAPI, *, api: bool = True) -> None:
        """Add middleware, error handlers and (unless ``api=False``) the tenancy API routes."""
        app.state.tenancy = self
        # Innermost: it sees the path without /t/{slug} and the renewed session cookie.
        app.add_middleware(
            PlatformGateMiddleware, tenancy=self, prefixes=self.config.platform_paths
        )
        app.add_middleware(TenantPathMiddleware)
        app.add_middleware(BodyLimitMiddleware, max_bytes=self.config.max_body_bytes)
        # Outermost of ours: one credential's flood queues before any of its work is done.
        app.add_middleware(
            CredentialTurns, slots=self.credential_slots, read_ahead=self.config.max_body_bytes
        )
        install_error_handlers(app)
        install_openapi(app, hidden=self.config.platform_paths)
        self._wrap_lifespan(app)
        if api:
            self.include_api(app)

    def include_api(self, app: FastAPI) -> None:
        """Add the tenancy API's routes (``/api/auth``, ``/api/tenant``, …): what
        :meth:`install` does unless told ``api=False``.

        FastAPI tries routes in the order they were added, and the ~50 tenancy routes
        cost an app's own route ~0.1 ms of matching per request when they come first. An
        app with busy routes of its own calls ``install(app, api=False)``, adds its
        routes, then this. (Where two routes share a path, the first added wins.)
        """
        for module in (
            accounts,
            privacy,
            tenants,
            retention,
            invites,
            export,
            admin,
            admin_import,
            admin_placement,
            plans,
        ):
            add_routes(app, module.router)
        if self.billing is not None:
            from tenantry.web.routes import billing

            add_routes(app, billing.router)

    def _wrap_lifespan(self, app: FastAPI) -> None:
        """Wrap the app's lifespan: the job service (mail included) runs while the app does,
        and a clean shutdown flushes the pending usage counts and closes the async pool."""
        inner = app.router.lifespan_context
        meter, billing, jobs = self.meter, self.billing, self.jobs
        worker = self.config.worker_in_process
        aio = self.async_reads

        catalogue = self.catalogue

        @asynccontextmanager
        async def lifespan(application: Any) -> AsyncIterator[Any]:
            check_row_limits(catalogue)  # every model is imported by now
            if billing is not None:
                billing.start()  # pending sign-ups and grace periods, swept periodically
            try:
                async with running(jobs, worker=worker), inner(application) as state:
                    yield state
            finally:
                meter.close()
                if billing is not None:
                    billing.close()
                if aio is not None:  # asyncpg's connections close on the loop that opened them
                    await aio.engine.dispose()

        app.router.lifespan_context = lifespan

    def issue_tokens(
        self,
        session: Session,
        user_id: int,
        tenant_id: uuid.UUID | None,
        family_id: uuid.UUID | None = None,
    ) -> TokenPair:
        """Access and refresh tokens for a member of ``tenant_id`` (membership checked here).

        ``tenant_id=None`` signs in a person who belongs to no tenant: they can
        create one or join one, and nothing else. A suspended tenant's tokens are
        issued too: every route refuses it on each request but the few that settle a
        suspension (the billing portal), which its owner must be able to reach.
        """
        user = get_user(session, user_id)
        role: Role | None = None
        if tenant_id is not None:
            claim = TenantClaim("issue", tenant_id=tenant_id)
            ctx = resolve_membership(
                session, claim, user_id, session_version=user.session_version, allow_suspended=True
            )
            tenant_id, role = ctx.tenant_id, ctx.role
        access, expires = self.tokens.issue(
            user_id=user_id, tenant_id=tenant_id, role=role, session_version=user.session_version
        )
        refresh = issue_refresh(
            session,
            user_id=user_id,
            tenant_id=tenant_id,
            ttl=self.config.refresh_ttl,
            family_id=family_id,
        )
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_at=expires,
            tenant_id=tenant_id,
            role=role,
        )
