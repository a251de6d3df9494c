"""Responses of the API: orjson for JSON, decimals as strings, CSV streamed from its own session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from tenantry.context import TenantContext
from tenantry.db import Database
from tenantry.errors import ValidationFailed
from tenantry.web.streaming import tenant_download


def _default(value: Any) -> Any:
    # orjson writes UUIDs, dates and datetimes itself; money stays exact as a string.
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


class Json(JSONResponse):
    """A JSON response rendered with orjson; ``Decimal`` becomes a string (exact money)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default)


def csv_download(
    db: Database,
    ctx: TenantContext,
    produce: Callable[[Session], Iterator[str]],
    filename: str,
    *,
    session: Session,
) -> StreamingResponse:
    """Stream CSV from a read-only session of its own (the core's ``tenant_download``)."""
    return tenant_download(
        db,
        ctx,
        lambda session: (chunk.encode() for chunk in produce(session)),
        filename=filename,
        media_type="text/csv; charset=utf-8",
        session=session,
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
