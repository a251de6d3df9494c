"""A streamed download that fails never looks finished: an error status before the first
byte, a broken transfer after it (over a real uvicorn server, as a browser sees it)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session

from tenantry.context import TenantContext
from tenantry.db import Database
from tenantry.errors import NotFound
from tenantry.ids import TenantId, UserId
from tenantry.roles import Role
from tenantry.web.errors import install_error_handlers
from tenantry.web.streaming import PIECE_BYTES, in_pieces, tenant_download

ROW = b'{"n": %d, "pad": "' + b"x" * 40_000 + b'"},'  # two rows fill a piece (PIECE_BYTES)


def _fails_at(chunk: int) -> object:
    def produce(_session: Session) -> Iterator[bytes]:
        yield from (b'{"rows": [' if i == 0 else ROW % i for i in range(chunk))
        raise NotFound("no such column: readings.read_at")

    return produce


def test_small_chunks_travel_in_pieces_of_64_kib() -> None:
    """A piece a line cost a thread hop a line: 100k readings as CSV took 29 s, 1.3 s now."""
    lines = [b"2025-01-%02d,1050.5,,no\n" % (i % 28 + 1) for i in range(10_000)]
    pieces = list(in_pieces(iter(lines)))
    assert b"".join(pieces) == b"".join(lines)
    assert all(len(piece) >= PIECE_BYTES for piece in pieces[:-1])
    assert len(pieces) == -(-len(b"".join(lines)) // PIECE_BYTES)
    big = b"x" * PIECE_BYTES
    assert list(in_pieces(iter([big, b"a", b"b"]))) == [big, b"ab"]  # passed on whole


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    db = Database(f"sqlite:///{tmp_path / 's.db'}")
    ctx = TenantContext(TenantId(uuid.uuid4()), UserId(1), Role.OWNER)
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/fails/{chunk}")
    def fails(chunk: int) -> object:
        with db.sessions() as session:  # the audit event is never flushed: no table needed
            return tenant_download(
                db,
                ctx,
                _fails_at(chunk),  # type: ignore[arg-type]
                filename="x.json",
                media_type="application/json",
                session=session,
            )

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)
    db.dispose()


def test_failure_before_the_first_byte_is_an_error_response(server: str) -> None:
    response = httpx.get(f"{server}/fails/0")
    assert response.status_code == 404  # the producer's own error, through the handlers
    assert response.json()["error"]["message"] == "no such column: readings.read_at"


def test_failure_within_the_first_piece_is_still_an_error_response(server: str) -> None:
    response = httpx.get(f"{server}/fails/2")  # the header and one row: under one piece
    assert response.status_code == 404


def test_failure_mid_stream_breaks_the_transfer(server: str) -> None:
    received = b""
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", f"{server}/fails/4") as r:
        assert r.status_code == 200
        for chunk in r.iter_raw():
            received += chunk
    assert received.startswith(b'{"rows": [')  # what arrived is visibly a fragment
