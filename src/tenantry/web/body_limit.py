"""Pure ASGI middleware refusing request bodies over a size limit with 413."""

from __future__ import annotations

import inspect

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantry.errors import PayloadTooLarge
from tenantry.web.errors import error_response


class BodyLimitMiddleware:
    """Checks ``Content-Length`` up front and counts streamed bytes as they arrive.

    The refusal is a :class:`~tenantry.errors.PayloadTooLarge` answered by the app's own
    exception handler for it, as if a route had raised it: the core's JSON by default, and
    whatever an app installs instead (a web UI's error page). This middleware runs outside
    the app's exception handling, so it looks the handler up itself.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_large = int(value) > self.max_bytes
                except ValueError:
                    too_large = True
                if too_large:
                    await self._refuse(scope, receive, send)
                    return
        received = 0
        refused = False

        async def limited_receive() -> Message:
            # Past the limit: answer 413 ourselves, then tell the app the client left.
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    await self._refuse(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        exc = PayloadTooLarge(
            f"request body is larger than {self.max_bytes} bytes",
            details={"limit_bytes": self.max_bytes},
        )
        response = await self._answer(scope, exc)
        await response(scope, receive, send)

    async def _answer(self, scope: Scope, exc: PayloadTooLarge) -> Response:
        handlers = getattr(scope.get("app"), "exception_handlers", {})
        for cls in type(exc).__mro__:
            handler = handlers.get(cls)
            if handler is not None:
                answer = handler(Request(scope), exc)
                response: Response = await answer if inspect.isawaitable(answer) else answer
                return response
        return error_response(exc.status, exc.code, exc.message, exc.details)
