"""``CredentialTurns``: a flood of one credential's quick requests takes turns with others."""

from __future__ import annotations

import anyio
import pytest
from starlette.types import Message, Receive, Scope, Send

from tenantry.web.slots import TenantSlots
from tenantry.web.turns import CredentialTurns, credential


def _scope(auth: bytes | None) -> Scope:
    headers = [(b"host", b"x")] + ([(b"authorization", auth)] if auth else [])
    return {"type": "http", "method": "GET", "path": "/", "headers": headers}


async def _receive() -> Message:
    return {"type": "http.request", "body": b""}


async def _send(message: Message) -> None:
    pass


def test_the_key_is_the_authorization_header_as_sent() -> None:
    assert credential(_scope(b"Bearer abc")) == b"Bearer abc"
    assert credential(_scope(None)) is None  # sign-in, pages with cookies, static files


@pytest.mark.anyio
async def test_another_credentials_request_runs_second_in_a_flood() -> None:
    ran: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        ran.append(dict(scope["headers"]).get(b"authorization", b"-").decode())

    turns = CredentialTurns(app, TenantSlots(4, process=1))
    arrivals: list[bytes | None] = [b"A"] * 8 + [b"B", None]
    async with anyio.create_task_group() as tg:
        for auth in arrivals:
            tg.start_soon(turns, _scope(auth), _receive, _send)
    assert ran.index("B") <= 2, ran  # not behind A's eight
    assert ran.index("-") == 0, ran  # no credential: straight through, no turn taken
    assert sorted(ran) == sorted(a.decode() if a else "-" for a in arrivals)


@pytest.mark.anyio
async def test_a_credential_alone_is_not_held_back() -> None:
    """One client's requests that wait on I/O still overlap once the patience passed."""
    inside = 0
    most = 0

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await anyio.sleep(0.05)
        inside -= 1

    turns = CredentialTurns(app, TenantSlots(4, process=1, patience=0.01))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(turns, _scope(b"A"), _receive, _send)
    assert most > 1
