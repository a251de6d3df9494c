"""Pure ASGI middleware of the UI session: session id, token renewal, CSRF on cookie API calls.

For pages, an expired access cookie is renewed from the refresh cookie before
the request reaches the routes, which then see a valid token. API calls that
authenticate with the cookie (not a bearer header) must send ``X-CSRF-Token``.
"""

from __future__ import annotations

import re
import uuid

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meterbook.pages.cookies import REFRESH, SID, CookiePolicy, parse
from meterbook.pages.csrf import HEADER, SAFE, SID_STATE, new_sid, valid
from tenantry import accounts
from tenantry.errors import AuthenticationFailed, TenantryError
from tenantry.security.refresh import rotate_refresh
from tenantry.web import Tenancy, TenantClaim, in_thread, resolve_membership

_API = re.compile(r"^(/t/[^/]+)?/api/")
_SID = re.compile(r"^[A-Za-z0-9_-]{32}$")
_NO_RENEWAL = ("/static/", "/favicon.ico", "/healthz")
# Answers no page reads a session from: no cookie is set on them (a health probe or a
# scraper would collect a new one at every request).
_NO_SESSION = (*_NO_RENEWAL, "/readyz", "/metrics")


class WebSessionMiddleware:
    def __init__(self, app: ASGIApp, *, tenancy: Tenancy, policy: CookiePolicy) -> None:
        self.app = app
        self.tenancy = tenancy
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(_NO_SESSION):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        is_api = bool(_API.match(path))
        bearer = headers.get(b"authorization", b"").lower().startswith(b"bearer ")
        if is_api and bearer and b"cookie" not in headers:
            # An API client with a token and no cookies: no browser session to start or renew.
            await self.app(scope, receive, send)
            return
        cookies = parse(headers.get(b"cookie", b"").decode("latin-1"))
        set_cookies: list[str] = []
        sid = cookies.get(SID, "")
        if not _SID.match(sid):
            sid = new_sid()
            set_cookies.append(self.policy.header(SID, sid, 400 * 86_400))
        scope = dict(scope)
        scope[SID_STATE] = sid
        access = cookies.get(self.policy.access)
        if is_api and access and not bearer and scope["method"] not in SAFE:
            token = headers.get(HEADER.encode(), b"").decode("latin-1")
            if not valid(self.tenancy.config.secret_key, sid, token):
                await _refuse(send)
                return
        renewable = not is_api and not path.startswith(_NO_RENEWAL) and REFRESH in cookies
        if renewable and (not access or not self._verifies(access)):
            renewed = await in_thread(self._renew, cookies[REFRESH])
            set_cookies += renewed or self.policy.cleared()
            cookies.pop(self.policy.access, None)
            if renewed:
                cookies[self.policy.access] = renewed[0].split(";", 1)[0].split("=", 1)[1]
            raw = "; ".join(f"{k}={v}" for k, v in cookies.items()).encode("latin-1")
            scope["headers"] = [
                *((k, v) for k, v in scope["headers"] if k != b"cookie"),
                (b"cookie", raw),
            ]

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start" and set_cookies:
                message = dict(message)
                message["headers"] = [
                    *message.get("headers", []),
                    *((b"set-cookie", c.encode("latin-1")) for c in set_cookies),
                ]
            await send(message)

        await self.app(scope, receive, send_with_cookies)

    def _verifies(self, access: str) -> bool:
        try:
            self.tenancy.tokens.verify(access)
        except AuthenticationFailed:
            return False
        return True

    def _renew(self, refresh: str) -> list[str] | None:
        """New session cookies from the refresh token, or ``None`` when it is spent or revoked.

        The failure is caught inside the transaction so a reuse's revocation is committed.
        """
        with self.tenancy.db.session() as session:
            try:
                record = rotate_refresh(session, refresh)
            except AuthenticationFailed:
                return None
            tenant_id: uuid.UUID | None
            try:
                tenant_id = resolve_membership(
                    session, TenantClaim("refresh", tenant_id=record.tenant_id), record.user_id
                ).tenant_id
            except AuthenticationFailed:  # the account is gone
                return None
            except TenantryError:  # removed, or the household is gone: land in another one
                # None: no household left; the session goes on, to create or join one.
                tenant_id = accounts.default_tenant(session, record.user_id)
            try:
                pair = self.tenancy.issue_tokens(
                    session, record.user_id, tenant_id, family_id=record.family_id
                )
            except TenantryError:
                return None
        return self.policy.session(pair.access_token, pair.refresh_token)


async def _refuse(send: Send) -> None:
    body = orjson.dumps(
        {"error": {"code": "csrf_failed", "message": "send the X-CSRF-Token header"}}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
