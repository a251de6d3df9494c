"""Streamed downloads that read tenant data after the request's session has closed."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from datetime import UTC, datetime

import anyio
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from tenantry import audit
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.export import stream_export


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
    audit.record(session, action, tenant_id=ctx.tenant_id, actor_id=ctx.user_id, target=filename)

    def chunks() -> Generator[bytes]:
        with tenant_scope(ctx), db.read_sessions() as session:
            yield from produce(session)

    return StreamingResponse(
        _in_one_context(chunks()),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def export_download(
    db: Database, ctx: TenantContext, *, prefix: str, slug: str, session: Session
) -> StreamingResponse:
    """The tenant's whole export document as ``{prefix}-{slug}-{date}.json``.

    ``slug`` is canonical (``[a-z0-9-]``), so the name is safe in the header.
    """
    return tenant_download(
        db,
        ctx,
        lambda session: stream_export(session, ctx.tenant_id),
        filename=f"{prefix}-{slug}-{datetime.now(UTC):%Y%m%d}.json",
        media_type="application/json",
        session=session,
        action="data.exported",
    )
