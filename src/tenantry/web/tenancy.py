"""``Tenancy``: the object a host creates to make its FastAPI app tenant-aware."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session

from tenantry.db import Database
from tenantry.plans import (
    DEFAULT_CATALOGUE,
    Catalogue,
    UsageMeter,
    install_metering,
    install_quotas,
)
from tenantry.security.passwords import Passwords
from tenantry.security.refresh import issue_refresh
from tenantry.security.tokens import TokenService
from tenantry.web.body_limit import BodyLimitMiddleware
from tenantry.web.config import TenancyConfig
from tenantry.web.errors import install_error_handlers
from tenantry.web.path_prefix import TenantPathMiddleware
from tenantry.web.ratelimit import RateLimits
from tenantry.web.resolution import TenantClaim, resolve_membership
from tenantry.web.routes import accounts, export, invites, plans, tenants
from tenantry.web.schemas import TokenPair


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
    ) -> None:
        self.db = db
        self.config = config
        self.passwords = passwords or Passwords()
        self.tokens = TokenService(
            config.secret_key,
            issuer=config.issuer,
            audience=config.audience,
            access_ttl=config.access_ttl,
        )
        self.limits = RateLimits(config.rate_limit_storage)
        self.catalogue = catalogue or DEFAULT_CATALOGUE
        self.meter = UsageMeter(
            db.sessions,
            catalogue=self.catalogue,
            interval=config.usage_flush_seconds,
            enabled=config.metering,
        )
        install_quotas(db.sessions, self.catalogue)
        install_metering(db.sessions, self.meter)
        install_metering(db.read_sessions, self.meter)
        self._turn: asyncio.Lock | None = None

    @asynccontextmanager
    async def db_turn(self) -> AsyncIterator[None]:
        """Hold the process's database turn: one request's unit of work at a time.

        Sessions are synchronous inside ``async def`` routes (docs/adr/0001). A
        request that holds a transaction and awaits must not let another request
        block the event loop on the database lock (SQLite) or the pool (PostgreSQL):
        that would deadlock until the busy timeout. Waiting here yields instead.
        """
        if self._turn is None:
            self._turn = asyncio.Lock()
        async with self._turn:
            yield

    def install(self, app: FastAPI, *, api: bool = True) -> None:
        """Add middleware, error handlers and (unless ``api=False``) the tenancy API routes."""
        app.state.tenancy = self
        app.add_middleware(TenantPathMiddleware)
        app.add_middleware(BodyLimitMiddleware, max_bytes=self.config.max_body_bytes)
        install_error_handlers(app)
        self._flush_usage_on_shutdown(app)
        if api:
            for module in (accounts, tenants, invites, export, plans):
                app.include_router(module.router)

    def _flush_usage_on_shutdown(self, app: FastAPI) -> None:
        """Wrap the app's lifespan so a clean shutdown flushes the pending usage counts."""
        inner = app.router.lifespan_context
        meter = self.meter

        @asynccontextmanager
        async def lifespan(application: Any) -> AsyncIterator[Any]:
            try:
                async with inner(application) as state:
                    yield state
            finally:
                meter.close()

        app.router.lifespan_context = lifespan

    def issue_tokens(
        self,
        session: Session,
        user_id: int,
        tenant_id: uuid.UUID,
        family_id: uuid.UUID | None = None,
    ) -> TokenPair:
        """Access and refresh tokens for a member of ``tenant_id`` (membership checked here)."""
        ctx = resolve_membership(session, TenantClaim("issue", tenant_id=tenant_id), user_id)
        access, expires = self.tokens.issue(user_id=user_id, tenant_id=ctx.tenant_id, role=ctx.role)
        refresh = issue_refresh(
            session,
            user_id=user_id,
            tenant_id=ctx.tenant_id,
            ttl=self.config.refresh_ttl,
            family_id=family_id,
        )
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_at=expires,
            tenant_id=ctx.tenant_id,
            role=ctx.role,
        )
