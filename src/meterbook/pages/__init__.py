"""meterbook's server-rendered web UI: pages, cookie sessions with CSRF checks, error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from meterbook.pages import (
    account,
    audit,
    auth,
    billing,
    dashboard,
    household,
    mail_links,
    readings,
    vouchers,
)
from meterbook.pages.cookies import CookiePolicy
from meterbook.pages.errors import install_error_pages
from meterbook.pages.session import WebSessionMiddleware
from meterbook.pages.session_policy import STATE_KEY
from tenantry.web import Tenancy, add_routes

STATIC = Path(__file__).parent.parent / "static"


def install_pages(app: FastAPI, tenancy: Tenancy, *, secure_cookies: bool) -> None:
    """Add the pages, static files, the session middleware and the HTML error pages."""
    access = tenancy.config.access_cookie
    if not access:
        raise ValueError("the web UI needs TenancyConfig.access_cookie to be set")
    policy = CookiePolicy(
        access=access,
        access_ttl=tenancy.config.access_ttl,
        refresh_ttl=tenancy.config.refresh_ttl,
        secure=secure_cookies,
    )
    setattr(app.state, STATE_KEY, policy)
    app.add_middleware(WebSessionMiddleware, tenancy=tenancy, policy=policy)
    app.mount("/static", StaticFiles(directory=STATIC), name="meterbook-static")
    for module in (
        auth,
        account,
        mail_links,
        dashboard,
        readings,
        vouchers,
        household,
        billing,
        audit,
    ):
        # HTML pages are not API: their routers keep them out of the OpenAPI document
        # (include_in_schema=False); the attack walks them anyway.
        add_routes(app, module.router)
    install_error_pages(app)
