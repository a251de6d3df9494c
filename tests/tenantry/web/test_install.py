"""Where the tenancy API's routes go: ``install`` adds them first, ``include_api`` after
the app's own (FastAPI tries routes in order)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from tenantry.db import Database
from tenantry.security.passwords import Passwords
from tenantry.testing import Member
from tenantry.web import Tenancy, TenancyConfig, ViewerContext


def route_paths(routes: list[Any]) -> list[str]:
    """Every route's path in the order FastAPI tries them (included routers flattened)."""
    out: list[str] = []
    for route in routes:
        included = getattr(route, "original_router", None)
        out += route_paths(included.routes) if included is not None else [route.path]
    return out


@pytest.fixture
def tenantry_app(
    tenantry_database_url: str, tenantry_config: TenancyConfig, tenantry_passwords: Passwords
) -> Iterator[FastAPI]:
    db = Database(tenantry_database_url)
    app = FastAPI()
    tenancy = Tenancy(db, tenantry_config, passwords=tenantry_passwords)
    tenancy.install(app, api=False)

    @app.get("/whoami")
    async def whoami(ctx: ViewerContext) -> str:
        return str(ctx.tenant_id)

    @app.get("/api/plans")  # the tenancy API has this path too: the first added answers
    async def own_plans() -> str:
        return "the app's"

    tenancy.include_api(app)
    yield app
    db.dispose()


def test_the_app_routes_come_first_and_the_api_still_works(
    tenantry_app: FastAPI, tenantry_client: Any, tenantry_member: Callable[..., Member]
) -> None:
    paths = route_paths(tenantry_app.routes)
    assert paths.index("/whoami") < paths.index("/api/auth/login")
    assert tenantry_client.get("/api/plans").json() == "the app's"
    alice = tenantry_member()  # registers through the API added after
    bob = tenantry_member()
    assert tenantry_client.get("/whoami", headers=alice.headers).json() == alice.tenant_id
    tenant = tenantry_client.get("/api/tenant", headers=alice.headers)
    assert tenant.status_code == 200, tenant.text
    # Bob naming Alice's tenant still gets the same 404 as no tenant at all.
    named = {**bob.headers, "X-Tenant-ID": alice.tenant_id}
    assert tenantry_client.get("/whoami", headers=named).status_code == 404
    assert tenantry_client.get("/api/tenant", headers=named).status_code == 404


def test_install_adds_the_same_routes_first() -> None:
    def paths(split: bool) -> list[str]:
        app = FastAPI()
        tenancy = Tenancy(Database("sqlite://"), TenancyConfig(secret_key="k" * 40))
        tenancy.install(app, api=not split)
        if split:
            tenancy.include_api(app)
        return route_paths(app.routes)

    assert paths(split=False) == paths(split=True)
    assert "/api/auth/login" in paths(split=False)


def test_every_app_serves_the_same_route_objects() -> None:
    """Routes built once at import serve every app: FastAPI's include_router rebuilt each
    for every app (~100 ms at the first request of a server app, paid by every test)."""

    def login_route() -> Any:
        app = FastAPI()
        Tenancy(Database("sqlite://"), TenancyConfig(secret_key="k" * 40)).install(app)
        return next(r for r in app.routes if getattr(r, "path", "") == "/api/auth/login")

    assert login_route() is login_route()


def test_a_mail_sender_without_a_public_url_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Links in mails start with ``public_url``; a host that sends real mail and left it at
    uvicorn's default address is told at start-up, not by its first user's broken link."""
    import logging

    from tenantry.mail import Postman, SmtpMailer

    postman = Postman(SmtpMailer.from_url("smtp://127.0.0.1:2525"), sender="a@b.c")
    key = "k" * 40
    with caplog.at_level(logging.WARNING, logger="tenantry.web.tenancy"):
        Tenancy(Database("sqlite://"), TenancyConfig(secret_key=key), postman=postman)
        assert "set TenancyConfig(public_url=...)" in caplog.text
        caplog.clear()
        for url in ("https://app.example.com", "http://127.0.0.1:8000"):  # named: meant
            public = TenancyConfig(secret_key=key, public_url=url)
            Tenancy(Database("sqlite://"), public, postman=postman)
        Tenancy(Database("sqlite://"), TenancyConfig(secret_key=key))  # .eml files: no warning
    assert "public_url" not in caplog.text
