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


def _client(
    body: bytes = b"", gone: anyio.Event | None = None, *, chunk: int | None = None
) -> Receive:
    """An ASGI ``receive`` as a server gives it: the body (in pieces of ``chunk`` bytes),
    then, once the client has gone (``gone`` set; never if None), the disconnect."""
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] if chunk else [body]

    async def receive() -> Message:
        if pieces:
            piece = pieces.pop(0)
            return {"type": "http.request", "body": piece, "more_body": bool(pieces)}
        await (gone or anyio.Event()).wait()
        return {"type": "http.disconnect"}

    return receive


@pytest.mark.anyio
async def test_requests_whose_client_left_while_they_waited_never_run() -> None:
    """16 clients that gave up on a slow request kept the tenant's slots busy for 8 s."""
    ran: list[int] = []
    first_running, finish_first = anyio.Event(), anyio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        number = int(dict(scope["headers"])[b"x-n"])
        ran.append(number)
        if number == 1:
            first_running.set()
            await finish_first.wait()

    def scope(number: int) -> Scope:
        return {
            **_scope(b"Bearer A"),
            "headers": [(b"authorization", b"Bearer A"), (b"x-n", b"%d" % number)],
        }

    turns = CredentialTurns(app, TenantSlots(1, process=1))
    leaving = [anyio.Event() for _ in range(3)]
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(turns, scope(1), _client(), _send)
            await first_running.wait()
            for number, gone in zip((2, 3, 4), (*leaving[:2], None), strict=True):
                tg.start_soon(turns, scope(number), _client(gone=gone), _send)
            await anyio.wait_all_tasks_blocked()
            leaving[0].set()
            leaving[1].set()  # 2 and 3 gave up while 1 ran
            await anyio.wait_all_tasks_blocked()
            finish_first.set()
    assert ran == [1, 4]


@pytest.mark.anyio
async def test_a_request_that_waited_reads_its_whole_body() -> None:
    """The wait reads the body ahead to see a disconnect: the app must still get it."""
    bodies: list[bytes] = []
    first_running, finish_first = anyio.Event(), anyio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        bodies.append(message["body"])
        if message["body"] == b"first":
            first_running.set()
            await finish_first.wait()

    turns = CredentialTurns(app, TenantSlots(1, process=1))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(turns, _scope(b"Bearer A"), _client(b"first"), _send)
            await first_running.wait()
            tg.start_soon(turns, _scope(b"Bearer A"), _client(b'{"meter_wh": 5}'), _send)
            await anyio.wait_all_tasks_blocked()
            finish_first.set()
    assert bodies == [b"first", b'{"meter_wh": 5}']


@pytest.mark.anyio
async def test_a_large_body_whose_client_left_while_it_waited_never_runs() -> None:
    """A server delivers the disconnect only after the body: a wait that stopped reading
    at 64 KiB never saw a 90 KB import's client leave, and the import ran for no one."""
    ran: list[bytes] = []
    first_running, finish_first, gone = anyio.Event(), anyio.Event(), anyio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        ran.append(message["body"][:5])
        if message["body"] == b"first":
            first_running.set()
            await finish_first.wait()

    turns = CredentialTurns(app, TenantSlots(1, process=1), read_ahead=1024 * 1024)
    upload = b"rows," * 40_000  # 200 KB, in the 64 KiB pieces a server reads
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(turns, _scope(b"Bearer A"), _client(b"first"), _send)
            await first_running.wait()
            tg.start_soon(turns, _scope(b"Bearer A"), _client(upload, gone, chunk=65536), _send)
            await anyio.wait_all_tasks_blocked()
            gone.set()
            await anyio.wait_all_tasks_blocked()
            finish_first.set()
    assert ran == [b"first"]
    assert turns.held == 0


@pytest.mark.anyio
@pytest.mark.parametrize("budget", [1024 * 1024, 100_000], ids=["read ahead", "past the budget"])
async def test_a_waiting_upload_reaches_the_app_whole_and_is_no_longer_held(budget: int) -> None:
    """Read ahead while it waits (or, past the process's budget, partly), the body reaches
    the app whole and in order, and what was held is given back."""
    received: list[bytes] = []
    first_running, finish_first = anyio.Event(), anyio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        received.append(body)
        if body == b"first":
            first_running.set()
            await finish_first.wait()

    turns = CredentialTurns(app, TenantSlots(1, process=1), read_ahead_total=budget)
    upload = bytes(range(256)) * 1000  # 256 KB
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(turns, _scope(b"Bearer A"), _client(b"first"), _send)
            await first_running.wait()
            tg.start_soon(turns, _scope(b"Bearer A"), _client(upload, chunk=30_000), _send)
            await anyio.wait_all_tasks_blocked()
            assert 0 < turns.held <= max(budget, 30_000) + 30_000
            finish_first.set()
    assert received == [b"first", upload]
    assert turns.held == 0
