"""Responses of the API: orjson for JSON, decimals as strings, CSV streamed from its own session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from fastapi import Request, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.orm import Session

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.errors import ValidationFailed


def _default(value: Any) -> Any:
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


class Json(JSONResponse):
    """A JSON response rendered with orjson; ``Decimal`` becomes a string (exact money)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default)


def csv_download(
    db: Database, ctx: TenantContext, produce: Callable[[Session], Iterator[str]], filename: str
) -> StreamingResponse:
    """Stream CSV from a session of its own: the response outlives the request's session."""

    # An async generator: a sync one runs each step in a worker thread with a copied
    # context, where tenant_scope() could not reset its ContextVar.
    async def body() -> AsyncIterator[bytes]:
        with tenant_scope(ctx), db.sessions() as session:
            for chunk in produce(session):
                yield chunk.encode()

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def upload_text(request: Request) -> str:
    """The CSV of an import: a multipart ``file`` field or a raw ``text/csv`` body."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if isinstance(upload, UploadFile):
            raw = await upload.read()
        else:
            raw = str(upload or "").encode()
    else:
        raw = await request.body()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            "the file must be UTF-8 text", details={"field": "file", "reason": "not UTF-8"}
        ) from None
