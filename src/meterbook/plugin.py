"""``MeterbookPlugin``: how the server hosts meterbook (migrations, API, pages, demo data)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from meterbook.api import ROUTERS
from tenantry.db import Database
from tenantry.plans import Catalogue
from tenantry.web import Tenancy, add_routes

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"


class MeterbookPlugin:
    """The household electricity tracker as a server plugin."""

    name = "meterbook"

    def __init__(self, *, secure_cookies: bool | None = None) -> None:
        self.secure_cookies = secure_cookies

    @property
    def catalogue(self) -> Catalogue:
        """Free, Household and Pro; the host passes it to ``Tenancy``."""
        from meterbook.plans import CATALOGUE

        return CATALOGUE

    @property
    def migrations(self) -> Sequence[Path]:
        return [MIGRATIONS]

    def install(self, app: FastAPI, tenancy: Tenancy) -> None:
        from meterbook.api.dashboard import DASHBOARD_TAGS
        from meterbook.models import Reading, Voucher
        from meterbook.services import import_jobs

        for model in (Reading, Voucher):
            tenancy.cache.invalidate_on(model, *DASHBOARD_TAGS)
        import_jobs.register(tenancy.jobs, tenancy.cache)
        for router in ROUTERS:
            add_routes(app, router)
        from meterbook.pages import install_pages

        secure = self.secure_cookies
        if secure is None:  # the host's settings, when it keeps them on the app
            secure = bool(getattr(getattr(app.state, "settings", None), "secure_cookies", False))
        install_pages(app, tenancy, secure_cookies=secure)

    def seed_demo(self, db: Database, tenancy: Tenancy) -> list[str]:
        from meterbook.demo import seed

        return seed(db, tenancy)
