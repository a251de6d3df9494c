"""Streamed downloads that read tenant data after the request's session has closed.

A download that fails must never look finished. The first chunk is produced before the
status line is sent, so a failure there (a schema that does not match the app, say)
is an ordinary error response; a failure after it aborts the connection without the
final chunk, which every client reports as an incomplete transfer.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from datetime import UTC, datetime

import anyio
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.types import Receive, Scope, Send

from tenantry import audit
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.export import check_all_mapped, stream_export
from tenantry.placement.router import route_like
from tenantry.plans import EXPORT_BYTES, meter_of

# Bytes a download sends at a time. Each piece costs a hop to a worker thread and back
# (~0.3 ms): meterbook's CSV export yielded a line a piece, and 100k readings took 29 s.
PIECE_BYTES = 64 * 1024


def in_pieces(chunks: Iterator[bytes], size: int = PIECE_BYTES) -> Iterator[bytes]:
    """``chunks`` joined into pieces of at least ``size`` bytes (the last one: the rest)."""
    buffer = bytearray()
    for chunk in chunks:
        if not buffer and len(chunk) >= size:  # large enough already: no copy
            yield chunk
            continue
        buffer += chunk
        if len(buffer) >= size:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


async def _in_one_context(chunks: Generator[bytes]) -> AsyncIterator[bytes]:
    """Step a blocking generator in worker threads, always inside the same Context.

    Starlette would run each ``next()`` in a fresh copy of the context, losing
    the tenant scope the generator entered; one Context object keeps it. The
    event loop stays free while the database is read.
    """
    context = contextvars.copy_context()
    done = object()

    def step() -> object:
        return context.run(next, chunks, done)

    try:
        while (chunk := await anyio.to_thread.run_sync(step)) is not done:
            assert isinstance(chunk, bytes)
            yield chunk
    finally:
        # Closed early (client gone): run the generator's exits in its own Context.
        await anyio.to_thread.run_sync(context.run, chunks.close)


class _Download(StreamingResponse):
    """A streamed response that reads its first chunk before committing to a status."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.body_iterator
        assert isinstance(body, AsyncIterator)
        first = await anext(body, None)  # raises here: nothing was sent, the handlers answer

        async def whole() -> AsyncIterator[bytes]:
            if first is not None:
                yield first if isinstance(first, bytes) else str(first).encode()
            async for chunk in body:
                yield chunk if isinstance(chunk, bytes) else str(chunk).encode()

        self.body_iterator = whole()
        await super().__call__(scope, receive, send)


def tenant_download(
    db: Database,
    ctx: TenantContext,
    produce: Callable[[Session], Iterator[bytes]],
    *,
    filename: str,
    media_type: str,
    session: Session,
    action: str = "data.downloaded",
) -> StreamingResponse:
    """An attachment streamed from ``produce(session)`` in a read-only session of ``ctx``.

    Args:
        db: where to read; a read-only session is opened for the stream.
        ctx: the tenant whose data is streamed (carried explicitly into the threads).
        produce: yields the body's chunks from the session.
        filename: a server-generated name; never derived from user input.
        media_type: the response's content type.
        session: the request's session: the download is audited in its unit of work.
        action: the audit action ("data.exported" for a whole-tenant export).
    """
    # In a GET's read-only session the event is written once the request's read commits.
    audit.record(session, action, tenant_id=ctx.tenant_id, actor_id=ctx.user_id, target=filename)

    request_session = session

    def chunks() -> Generator[bytes]:
        with tenant_scope(ctx), db.read_sessions() as session:
            # The tenant's placement, as the request's session was routed (tenantry.placement).
            route_like(session, request_session, ctx.tenant_id)
            meter, sent = meter_of(session), 0
            try:
                for piece in in_pieces(produce(session)):
                    sent += len(piece)
                    yield piece
            finally:  # metered as export bytes, also when the client left early
                if meter is not None:
                    meter.add(ctx.tenant_id, EXPORT_BYTES, sent)

    return _Download(
        _in_one_context(chunks()),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def export_download(
    db: Database, ctx: TenantContext, *, prefix: str, slug: str, session: Session
) -> StreamingResponse:
    """The tenant's whole export document as ``{prefix}-{slug}-{date}.json``.

    ``slug`` is canonical (``[a-z0-9-]``), so the name is safe in the header.

    Raises:
        ExportIncomplete: tables with a ``tenant_id`` that no model of the app maps
            (checked before anything is sent: their rows would be missing).
    """
    check_all_mapped(session)
    return tenant_download(
        db,
        ctx,
        lambda session: stream_export(session, ctx.tenant_id),
        filename=f"{prefix}-{slug}-{datetime.now(UTC):%Y%m%d}.json",
        media_type="application/json",
        session=session,
        action="data.exported",
    )
