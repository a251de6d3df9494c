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

from meterbook.domain import RuleViolation
from meterbook.domain.csvfile import decode
from tenantry.context import TenantContext
from tenantry.db import Database
from tenantry.errors import ValidationFailed
from tenantry.web import tenant_download


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


def _file_refused(message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"field": "file", "reason": message})


async def upload_text(request: Request) -> str:
    """The CSV of an import: one multipart ``file`` field or a raw ``text/csv`` body.

    The API and the pages both read uploads here, so both say the same of a bad one.

    Raises:
        ValidationFailed: on ``file``: none or several sent, or not UTF-8 text.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        files = (await request.form()).getlist("file")
        if not files:
            raise _file_refused("no file was sent: send the CSV as the form's file field")
        if len(files) > 1:
            raise _file_refused("send one file at a time")
        upload = files[0]
        raw = await upload.read() if isinstance(upload, UploadFile) else upload.encode()
    else:
        raw = await request.body()
    try:
        return decode(raw)
    except RuleViolation as exc:
        raise _file_refused(exc.message) from None
