"""Pure-ASGI request observation: request id, route template, status, timing, tenant and user.

:class:`ObserveMiddleware` (outermost) times each request and hands a finished
:class:`RequestRecord` to sinks (the JSON log line, metrics, activity counts).
The router writes the matched route into a scope that middlewares further in
may have copied, so :class:`RouteNoteMiddleware`, installed innermost, copies
it onto the record, which every copy of the scope shares by reference.
"""

from __future__ import annotations

import logging
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantry.outages import is_connection_failure
from tenantry.web.path_prefix import CLAIM_KEY

RECORD_KEY = "tenantry.request"
# The status recorded for a request that ended unanswered because its client left
# (nginx's "client closed request"): neither a success nor the server's fault.
CLIENT_CLOSED_REQUEST = 499
HEADER = b"x-request-id"
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_request_id: ContextVar[str | None] = ContextVar("tenantry_request_id", default=None)
log = logging.getLogger("tenantry.web.observe")


def current_request_id() -> str | None:
    """The id of the request being served (for log records), or ``None`` outside one."""
    return _request_id.get()


@dataclass(slots=True)
class RequestRecord:
    """What one request did; ``route`` is the template (``/api/readings/{id}``), not the path."""

    request_id: str
    method: str
    path: str
    started: float = field(default_factory=time.perf_counter)
    route: str | None = None
    status: int = 0
    duration: float = 0.0
    tenant_id: uuid.UUID | None = None
    user_id: int | None = None
    error: str | None = None


Sink = Callable[[RequestRecord], Awaitable[None]]


def note_actor(request: Request, *, tenant_id: uuid.UUID | None, user_id: int | None) -> None:
    """Tell the request's record who acted; called by the dependencies that verify it."""
    record = request.scope.get(RECORD_KEY)
    if isinstance(record, RequestRecord):
        record.tenant_id = tenant_id if tenant_id is not None else record.tenant_id
        record.user_id = user_id if user_id is not None else record.user_id


def _request_id_of(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == HEADER:
            text: str = value.decode("latin-1")
            if _VALID_ID.fullmatch(text):
                return text
            break
    # Not a secret, only unique: 128 random bits without uuid4's urandom call per request.
    return f"{random.getrandbits(128):032x}"


class ObserveMiddleware:
    def __init__(self, app: ASGIApp, *, sinks: Sequence[Sink]) -> None:
        self.app = app
        self.sinks = tuple(sinks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = RequestRecord(_request_id_of(scope), scope["method"], scope["path"])
        scope = dict(scope)
        scope[RECORD_KEY] = record
        token = _request_id.set(record.request_id)
        echo = (HEADER, record.request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                message = dict(message)
                message["headers"] = [*message.get("headers", []), echo]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
            if record.status == 0:  # no answer: its client left while it waited
                record.status = CLIENT_CLOSED_REQUEST
        except BaseException as exc:
            record.error = type(exc).__name__
            if record.status == 0:
                record.status = 500
            raise
        finally:
            record.duration = time.perf_counter() - record.started
            for sink in self.sinks:
                try:
                    await sink(record)
                except Exception as failure:  # observation must never fail a request
                    if is_connection_failure(failure):  # an outage: said once per request
                        log.warning(
                            "request sink: database unavailable (request %s): %s",
                            record.request_id,
                            type(failure).__name__,
                        )
                    else:
                        log.exception("request sink failed (request %s)", record.request_id)
            _request_id.reset(token)


class RouteNoteMiddleware:
    """Innermost: copies the matched route's template onto the request's record."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            record = scope.get(RECORD_KEY)
            route = scope.get("route")
            if isinstance(record, RequestRecord) and route is not None:
                template = getattr(route, "path", None)
                if isinstance(template, str):
                    prefix = "/t/{tenant}" if CLAIM_KEY in scope else ""
                    record.route = prefix + template


def install_observe(app: FastAPI, sinks: Sequence[Sink]) -> None:
    """Observe every request of ``app``; call after every other middleware was added."""
    app.add_middleware(ObserveMiddleware, sinks=sinks)
    app.user_middleware.append(Middleware(RouteNoteMiddleware))
