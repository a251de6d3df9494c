"""JSON log lines: one per request, and errors named by class and request id only.

An exception's text can quote tenant data (PostgreSQL's DETAIL lines, a refused
value), so error records carry the exception class and the stack's file:line
frames, never the message or SQL parameters.
"""

from __future__ import annotations

import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

import orjson

from tenantry.web.observe import RequestRecord, current_request_id

REQUEST_LOGGER = "tenantry.request"
_request_log = logging.getLogger(REQUEST_LOGGER)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        request = getattr(record, "request", None)
        if isinstance(request, dict):
            line.update(request)
        else:
            line["message"] = record.getMessage()
            request_id = current_request_id()
            if request_id:
                line["request_id"] = request_id
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__
            line["frames"] = [
                f"{f.filename}:{f.lineno} {f.name}"
                for f in traceback.extract_tb(record.exc_info[2])[-8:]
            ]
        return orjson.dumps(line, default=str).decode()


def configure(level: str = "INFO") -> dict[str, Any]:
    """Send every log record to stderr as JSON; returns the config for ``uvicorn.run``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
            # One line per request comes from tenantry.request instead.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


async def log_request(record: RequestRecord) -> None:
    """The request sink: one INFO line per request (WARNING for 5xx)."""
    fields: dict[str, Any] = {
        "message": "request",
        "request_id": record.request_id,
        "method": record.method,
        "route": record.route,
        "status": record.status,
        "duration_ms": round(record.duration * 1000, 2),
        "tenant_id": str(record.tenant_id) if record.tenant_id else None,
        "user_id": record.user_id,
    }
    if record.error:
        fields["error"] = record.error
    level = logging.WARNING if record.status >= 500 else logging.INFO
    _request_log.log(level, "request", extra={"request": fields})
