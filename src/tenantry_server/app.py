"""``create_app``: the composition root of the server."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.engine import make_url

from tenantry.db import Database
from tenantry.migrations.runner import migrate_database
from tenantry.security.passwords import Passwords
from tenantry.web import Tenancy, TenancyConfig
from tenantry_server.plugins import Plugin
from tenantry_server.settings import Settings


def household_name(display_name: str) -> str:
    """meterbook's word for a tenant made at sign-up: "Alice's household"."""
    return f"{display_name}'s household"


def default_plugins() -> list[Plugin]:
    from meterbook.plugin import MeterbookPlugin

    return [MeterbookPlugin()]


def migrate(settings: Settings, plugins: Sequence[Plugin]) -> None:
    """Apply the core's and the plugins' migrations (as the owner role, when one is set)."""
    url = make_url(settings.migration_database_url or settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        # A fresh clone has no ./var yet: SQLite creates the file, not its directory.
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    db = Database(settings.migration_database_url or settings.database_url)
    try:
        migrate_database(
            db.engine, [d for p in plugins for d in p.migrations], app_role=settings.app_role
        )
    finally:
        db.dispose()


def create_app(
    settings: Settings,
    plugins: Sequence[Plugin] | None = None,
    *,
    passwords: Passwords | None = None,
) -> FastAPI:
    """Build the server: the tenancy API plus every plugin. Nothing happens at import."""
    plugins = default_plugins() if plugins is None else plugins
    if settings.database_url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    tenancy = Tenancy(
        db,
        TenancyConfig(
            secret_key=settings.signing_key(),
            base_domain=settings.base_domain,
            max_body_bytes=settings.max_body_bytes,
            rate_limit_storage=settings.rate_limit_storage,
            access_cookie="tenantry_access",
            default_tenant_name=household_name,
            tenant_concurrency=settings.tenant_concurrency,
        ),
        passwords=passwords,
    )
    app = FastAPI(title="tenantry")
    app.state.settings = settings
    tenancy.install(app)
    for plugin in plugins:
        plugin.install(app, tenancy)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
