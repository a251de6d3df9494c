"""Turns from the first byte: API requests of one credential take turns with everyone else's.

The tenant's slots (:mod:`tenantry.web.slots`) order requests once their membership is
known. But a request read on the event loop (an SQLite page, ADR 0006) runs from its
first byte to its response in one step of the loop, so a flood of them never overlaps
and never waits there: the loop runs them in arrival order, and another tenant's request
that arrives behind 24 of them waits for all 24. In a CRM built on tenantry, the other
tenant's list went from 4.5 to 90 ms at p50 while the slots measured no wait at all.

So the outermost layer queues each request by its credential (the bearer token of the
``Authorization`` header) and lets the loop run once before turns are given
(:meth:`TenantSlots.hold_in_turn <tenantry.web.slots.TenantSlots.hold_in_turn>`): the
requests due on the loop all queue, and the fair share then serves them a credential at a
time, the one running fewest first. The key is the header itself, never a tenant read
from an unverified token, so a forged token cannot queue anyone else's requests. Requests
without the header (sign-in, browser pages with their cookie, static files) pass through;
the tenant's and the user's slots still hold behind this layer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantry.web.slots import Abandoned, TenantSlots

# Request body a waiting request reads ahead (to see its client leave: a server delivers
# the disconnect only after the body), unless the app's body limit says less...
READ_AHEAD = 1024 * 1024
# ...and all waiting requests of the process together, so a flood of uploads that wait
# is not taken into memory: past this, a request stops watching (and may run for no one).
READ_AHEAD_TOTAL = 64 * 1024 * 1024

# Where a request that went through the turns finds its watch for later waits.
_CLIENT_LEFT = "tenantry.client_left"

ClientLeft = Callable[[], Awaitable[None]]


def client_left(scope: Scope) -> ClientLeft | None:
    """What returns once the request's client disconnects, for a wait of the app's own
    (the tenant's slots) to give up on (``until=``); ``None`` for a request that did
    not pass :class:`CredentialTurns` (no bearer token), whose waits cannot watch.

    What it reads of the request meanwhile (a body the app has not read yet, within
    :class:`CredentialTurns`' read-ahead) is replayed to the app; it must not run while
    the app reads the request itself, which a dependency's wait guarantees.
    """
    watch: ClientLeft | None = scope.get(_CLIENT_LEFT)
    return watch


class CredentialTurns:
    """Pure ASGI: the request holds one of ``slots``' places for its credential while it runs.

    A request that has to wait watches its connection meanwhile: one whose client went
    away leaves the queue unanswered instead of running later for no one (an outside
    tester's 16 abandoned 2-second requests kept the tenant's slots and connections busy
    for another 8 s). A server tells of a disconnect only after the request's body, so
    the watch reads the body ahead, at most ``read_ahead`` bytes of a request (the app's
    body limit) and ``read_ahead_total`` for all waiting requests together; past either
    it stops watching. (Stopping at 64 KiB, an outside tester's 90 KB imports whose
    clients had left ran and committed.)
    """

    def __init__(
        self,
        app: ASGIApp,
        slots: TenantSlots,
        *,
        read_ahead: int = READ_AHEAD,
        read_ahead_total: int = READ_AHEAD_TOTAL,
    ) -> None:
        self.app = app
        self.slots = slots
        self.read_ahead = read_ahead
        self.read_ahead_total = read_ahead_total
        self.held = 0  # body bytes read ahead by waiting requests, not yet replayed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = credential(scope) if scope["type"] == "http" else None
        if key is None:
            await self.app(scope, receive, send)
            return
        early: deque[Message] = deque()  # what the waits read of the request (its body)
        held = 0  # of which body bytes

        async def left() -> None:
            """Return once the client disconnects; what it reads meanwhile is replayed."""
            nonlocal held
            message = await receive()
            while message["type"] == "http.request":
                size = len(message.get("body", b""))
                early.append(message)
                held += size
                self.held += size
                if not message.get("more_body", False):  # in: next comes the disconnect
                    message = await receive()
                    if message["type"] != "http.disconnect":
                        early.append(message)
                        await anyio.sleep_forever()
                    return
                if held > self.read_ahead or self.held > self.read_ahead_total:
                    await anyio.sleep_forever()  # holds enough: stops watching
                message = await receive()

        async def replay() -> Message:
            nonlocal held
            if not early:
                return await receive()
            message = early.popleft()
            size = len(message.get("body", b""))
            held -= size
            self.held -= size
            return message

        scope = {**scope, _CLIENT_LEFT: left}
        try:
            async with self.slots.hold_in_turn(key, until=left):
                await self.app(scope, replay, send)
        except Abandoned:
            return  # nobody to answer: the client went away while it waited
        finally:
            self.held -= held  # what the app left unread


def credential(scope: Scope) -> bytes | None:
    """The request's credential, if it has an ``Authorization`` header: the bearer token
    as the API reads it (:func:`~tenantry.web.deps.bearer_token`), else the header as sent.

    Not the header as sent for a bearer token: the API takes ``bearer``, ``BEARER`` and
    any number of spaces before the token alike, and a client flooding with one token
    but a new spacing on every request made each one a credential of its own (another
    tenant's page went from 9 to ~80 ms at p50 on SQLite, as without turns).
    """
    name: bytes
    value: bytes
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            token = token.strip()
            if scheme.lower() == b"bearer" and token:
                return token
            return value
    return None
