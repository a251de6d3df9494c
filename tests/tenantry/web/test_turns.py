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


def test_the_key_is_the_bearer_token_however_the_header_spells_it() -> None:
    """The API reads the same token from each of these: they must queue as one."""
    for header in (b"Bearer abc", b"bearer abc", b"BEARER   abc", b"Bearer abc  ", b"Bearer \tabc"):
        assert credential(_scope(header)) == b"abc", header
    assert credential(_scope(b"Basic dTpw")) == b"Basic dTpw"  # not a bearer token: as sent
    assert credential(_scope(None)) is None  # sign-in, pages with cookies, static files


@pytest.mark.anyio
@pytest.mark.parametrize("spaced", [False, True], ids=["same header", "a new spacing each time"])
async def test_another_credentials_request_runs_second_in_a_flood(spaced: bool) -> None:
    ran: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        auth = dict(scope["headers"]).get(b"authorization", b"-").decode()
        ran.append(auth.split()[-1] if auth != "-" else auth)

    turns = CredentialTurns(app, TenantSlots(4, process=1))
    flood = [b"Bearer" + b" " * (1 + i if spaced else 1) + b"A" for i in range(8)]
    arrivals: list[bytes | None] = [*flood, b"Bearer B", None]
    async with anyio.create_task_group() as tg:
        for auth in arrivals:
            tg.start_soon(turns, _scope(auth), _receive, _send)
    assert ran.index("B") <= 2, ran  # not behind A's eight
    assert ran.index("-") == 0, ran  # no credential: straight through, no turn taken
    assert sorted(ran) == sorted(a.decode().split()[-1] if a else "-" for a in arrivals)


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
