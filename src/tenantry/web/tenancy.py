"""``Tenancy``: the object a host creates to make its FastAPI app tenant-aware."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.orm import Session

from tenantry.accounts import get_user
from tenantry.db import Database
from tenantry.mail import Postman
from tenantry.mail.notices import Mailroom
from tenantry.roles import Role
from tenantry.security.passwords import Passwords
from tenantry.security.refresh import issue_refresh
from tenantry.security.tokens import TokenService
from tenantry.web.body_limit import BodyLimitMiddleware
from tenantry.web.config import TenancyConfig
from tenantry.web.errors import install_error_handlers
from tenantry.web.login_throttle import LoginThrottle
from tenantry.web.path_prefix import TenantPathMiddleware
from tenantry.web.ratelimit import RateLimits
from tenantry.web.resolution import TenantClaim, resolve_membership
from tenantry.web.routes import accounts, export, invites, tenants
from tenantry.web.schemas import TokenPair


class Tenancy:
    """Holds the database, token service, password hasher and rate limits.

    Usage::

        tenancy = Tenancy(db, TenancyConfig(secret_key=...))
        app = FastAPI()
        tenancy.install(app)
    """

    def __init__(
        self,
        db: Database,
        config: TenancyConfig,
        passwords: Passwords | None = None,
        *,
        postman: Postman | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.passwords = passwords or Passwords()
        # Without a postman, mails go to ./var/outbox as .eml files.
        self.postman = postman or Postman.outbox(
            Path("var/outbox"), sender=f"{config.site_name} <no-reply@localhost>"
        )
        self.postman.install(db.sessions)
        self.mail = Mailroom(
            site=config.site_name, public_url=config.public_url, links=config.links
        )
        self.mail.install(db.sessions)
        self.tokens = TokenService(
            config.secret_key,
            issuer=config.issuer,
            audience=config.audience,
            access_ttl=config.access_ttl,
        )
        self.limits = RateLimits(config.rate_limit_storage)
        self.login_throttle = LoginThrottle(self.limits, config.login_policy)
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
        if api:
            for module in (accounts, tenants, invites, export):
                app.include_router(module.router)

    def issue_tokens(
        self,
        session: Session,
        user_id: int,
        tenant_id: uuid.UUID | None,
        family_id: uuid.UUID | None = None,
    ) -> TokenPair:
        """Access and refresh tokens for a member of ``tenant_id`` (membership checked here).

        ``tenant_id=None`` signs in a person who belongs to no tenant: they can
        create one or join one, and nothing else.
        """
        user = get_user(session, user_id)
        role: Role | None = None
        if tenant_id is not None:
            claim = TenantClaim("issue", tenant_id=tenant_id)
            ctx = resolve_membership(session, claim, user_id, session_version=user.session_version)
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
