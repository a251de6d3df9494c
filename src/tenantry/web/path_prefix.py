"""Pure ASGI middleware: ``/t/{slug}/rest`` becomes ``/rest`` with a tenant claim recorded."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

CLAIM_KEY = "tenantry.path_slug"


def path_tenant(scope: Scope) -> str | None:
    """The slug of a ``/t/{slug}/…`` URL, which routing no longer sees: to put the prefix
    back in a link or redirect. A claim only, not a checked membership."""
    slug: str | None = scope.get(CLAIM_KEY)
    return slug


class TenantPathMiddleware:
    """Records the slug as a *claim* only; membership is checked later, like any other source."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/t/"):
            slug, _, rest = scope["path"][3:].partition("/")
            # Any slug is a claim, one no tenant can have too (an upper-case one, say):
            # resolution answers it as an unknown tenant, a page or JSON as the path wants.
            if slug:
                scope = dict(scope)
                scope["path"] = "/" + rest
                scope["raw_path"] = scope["path"].encode()
                scope[CLAIM_KEY] = slug
        await self.app(scope, receive, send)
