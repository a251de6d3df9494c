"""What a request's record says: here, of requests that end without an answer."""

from __future__ import annotations

import contextlib

import pytest
from starlette.types import Message, Receive, Scope, Send

from tenantry.web.observe import CLIENT_CLOSED_REQUEST, ObserveMiddleware, RequestRecord


async def _receive() -> Message:
    return {"type": "http.disconnect"}


async def _send(message: Message) -> None:
    pass


def _scope() -> Scope:
    return {"type": "http", "method": "GET", "path": "/api/readings", "headers": []}


async def _observed(app: object) -> RequestRecord:
    records: list[RequestRecord] = []

    async def sink(record: RequestRecord) -> None:
        records.append(record)

    middleware = ObserveMiddleware(app, sinks=[sink])  # type: ignore[arg-type]
    with contextlib.suppress(RuntimeError):  # the failing app's error, re-raised
        await middleware(_scope(), _receive, _send)
    (record,) = records
    return record


@pytest.mark.anyio
async def test_a_request_dropped_because_its_client_left_is_logged_as_499() -> None:
    """Not 0 (no status at all) nor 500: the server did nothing wrong."""

    async def left_unanswered(scope: Scope, receive: Receive, send: Send) -> None:
        return None  # what CredentialTurns does with a request whose client went away

    record = await _observed(left_unanswered)
    assert record.status == CLIENT_CLOSED_REQUEST == 499
    assert record.error is None


@pytest.mark.anyio
async def test_a_request_that_failed_before_answering_is_a_500() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    record = await _observed(failing)
    assert (record.status, record.error) == (500, "RuntimeError")
