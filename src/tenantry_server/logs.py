"""JSON log lines: one per request, and errors named by class and request id only.

An exception's text can quote tenant data (PostgreSQL's DETAIL lines, a refused
value), so error records carry the exception class and the stack's file:line
frames, never the message or SQL parameters.
"""

from __future__ import annotations

import logging
import logging.config
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
            # Which worker process wrote it: with --workers N, the one way to tell.
            "pid": record.process,
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


def log_config(level: str = "INFO") -> dict[str, Any]:
    """The logging dictConfig: every record to stderr as JSON, the root logger's too.

    ``uvicorn`` applies it in each worker process it spawns: ``configure`` runs only in
    the parent, and a config naming only uvicorn's loggers would leave a worker's
    ``tenantry.request`` lines and error records to Python's bare-text fallback.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "tenantry_server.logs.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
            # One line per request comes from tenantry.request instead.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def configure(level: str = "INFO") -> dict[str, Any]:
    """Apply ``log_config`` in this process; returns it for ``uvicorn.run`` (its workers)."""
    config = log_config(level)
    logging.config.dictConfig(config)
    return config


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
