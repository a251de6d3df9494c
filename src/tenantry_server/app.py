"""``create_app``: the composition root of the server."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.engine import make_url

from tenantry.db import Database
from tenantry.mail import Postman, mailer_from_url
from tenantry.migrations.runner import migrate_database
from tenantry.operations import Operations
from tenantry.placement import Placements
from tenantry.plans import Catalogue, load_catalogue
from tenantry.runtime import freeze_startup_objects
from tenantry.security.passwords import Passwords
from tenantry.web import Tenancy, TenancyConfig, add_routes
from tenantry_server import console, health, observability
from tenantry_server.plugins import Plugin
from tenantry_server.settings import Settings


def household_name(display_name: str) -> str:
    """meterbook's word for a tenant made at sign-up: "Alice's household"."""
    return f"{display_name}'s household"


def default_plugins() -> list[Plugin]:
    from meterbook.plugin import MeterbookPlugin

    return [MeterbookPlugin()]


def migrate(settings: Settings, plugins: Sequence[Plugin]) -> list[str]:
    """Apply the core's and the plugins' migrations (as the owner role, when one is set);
    return the revisions applied (empty: the schema was up to date)."""
    url = make_url(settings.migration_database_url or settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        # A fresh clone has no ./var yet: SQLite creates the file, not its directory.
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    db = Database(settings.migration_database_url or settings.database_url)
    try:
        applied = migrate_database(
            db.engine, [d for p in plugins for d in p.migrations], app_role=settings.app_role
        )
        placements = placements_of(settings, db, plugins)
        if placements is not None:  # every dedicated tenant database follows
            from tenantry.cli.migrate import migrate_placements
            from tenantry.errors import TenantryError

            if migrate_placements(placements):
                raise TenantryError("some tenant databases failed to migrate (listed above)")
    finally:
        db.dispose()
    return applied


def plan_catalogue(settings: Settings, plugins: Sequence[Plugin]) -> Catalogue | None:
    """The TOML file of ``plans_file`` if set, else the first plugin's catalogue.

    Raises:
        CatalogueError: the file is unreadable or invalid (the message names the field).
    """
    if settings.plans_file is not None:
        return load_catalogue(settings.plans_file)
    found = (getattr(p, "catalogue", None) for p in plugins)
    return next((c for c in found if isinstance(c, Catalogue)), None)


def placements_of(settings: Settings, db: Database, plugins: Sequence[Plugin]) -> Placements | None:
    """The placement configuration of ``placements_file`` at work on ``db``; None if unset.

    Raises:
        PlacementConfigError: the file is unreadable or invalid (the message says why).
    """
    if settings.placements_file is None:
        return None
    from tenantry.placement import Placements, load_config

    return Placements(
        load_config(settings.placements_file),
        db,
        version_dirs=[d for p in plugins for d in p.migrations],
    )


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
    catalogue = plan_catalogue(settings, plugins)
    db = Database(settings.database_url)
    placements = placements_of(settings, db, plugins)
    tenancy = Tenancy(
        db,
        TenancyConfig(
            secret_key=settings.signing_key(),
            base_domain=settings.base_domain,
            max_body_bytes=settings.max_body_bytes,
            rate_limit_storage=settings.rate_limit_storage,
            redis_url=settings.redis_url,
            cache_url=settings.cache_location(),
            rate_limit_fail_open=settings.rate_limit_fail_open,
            tenant_rate=settings.tenant_rate,
            request_budgets=settings.request_budgets,
            user_rate=settings.user_rate,
            jobs_spool_dir=settings.data_dir / "spool",
            worker_in_process=settings.worker_in_process,
            access_cookie="tenantry_access",
            site_name=settings.site_name,
            public_url=settings.site_url(),
            tenant_concurrency=settings.tenant_concurrency,
            process_concurrency=settings.process_concurrency,
            worker_board=settings.worker_board,
            default_tenant_name=household_name,
            deletion_grace=timedelta(days=settings.deletion_grace_days),
            purge_every=settings.purge_every_seconds,
            join_rate=settings.join_rate,
            max_owned_tenants=settings.max_owned_tenants,
            usage_flush_seconds=settings.usage_flush_seconds,
            platform_paths=("/api/admin", "/console"),
        ),
        passwords=passwords,
        catalogue=catalogue,
        placements=placements,
        postman=Postman(
            mailer_from_url(settings.smtp_url, settings.outbox_dir), sender=settings.mail_from
        ),
        billing=settings.billing_config(),
    )

    app = FastAPI(title="tenantry")  # tenancy.install runs the jobs (and mail) with the app
    app.state.settings = settings
    # First: FastAPI tries routes in order, and a probe should not be matched against the
    # ~300 routes of the apps before it (it was last: ~0.5 ms a /healthz in process).
    add_routes(app, health.router)
    tenancy.install(app, api=False)
    app.state.operations = Operations(
        db, version_dirs=[d for p in plugins for d in p.migrations], app_role=settings.app_role
    )
    for plugin in plugins:
        plugin.install(app, tenancy)
    # After the plugins': FastAPI tries routes in order, and the app's carry the traffic.
    tenancy.include_api(app)
    console.install(app)
    observability.install(app, tenancy, settings)  # last: its middleware is the outermost
    return app


def app_from_environment() -> FastAPI:
    """The server from environment settings: the factory each ``--workers`` process calls."""
    app = create_app(Settings())
    freeze_startup_objects()
    return app
