"""``Tenancy``: the object a host creates to make its FastAPI app tenant-aware."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from sqlalchemy.orm import Session

from tenantry.db import Database
from tenantry.security.passwords import Passwords
from tenantry.security.refresh import issue_refresh
from tenantry.security.tokens import TokenService
from tenantry.web.body_limit import BodyLimitMiddleware
from tenantry.web.config import TenancyConfig
from tenantry.web.errors import install_error_handlers
from tenantry.web.openapi import install_openapi
from tenantry.web.path_prefix import TenantPathMiddleware
from tenantry.web.ratelimit import RateLimits
from tenantry.web.resolution import TenantClaim, resolve_membership
from tenantry.web.routes import accounts, export, invites, tenants
from tenantry.web.schemas import TokenPair
from tenantry.web.slots import TenantSlots


class Tenancy:
    """Holds the database, token service, password hasher and rate limits.

    Usage::

        tenancy = Tenancy(db, TenancyConfig(secret_key=...))
        app = FastAPI()
        tenancy.install(app)
    """

    def __init__(
        self, db: Database, config: TenancyConfig, passwords: Passwords | None = None
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
        self.limits = RateLimits(config.rate_limit_storage, enabled=config.rate_limits)
        self.slots = TenantSlots(config.tenant_concurrency)

    def install(self, app: FastAPI, *, api: bool = True) -> None:
        """Add middleware, error handlers and (unless ``api=False``) the tenancy API routes."""
        app.state.tenancy = self
        app.add_middleware(TenantPathMiddleware)
        app.add_middleware(BodyLimitMiddleware, max_bytes=self.config.max_body_bytes)
        install_error_handlers(app)
        install_openapi(app)
        if api:
            for module in (accounts, tenants, invites, export):
                app.include_router(module.router)

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
