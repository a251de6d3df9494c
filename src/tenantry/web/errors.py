"""One error shape for every failure: ``{"error": {"code", "message", "details"?}}``."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from tenantry.errors import TenantryError
from tenantry.outages import is_connection_failure
from tenantry.read_only import READ_ONLY_MESSAGE, is_read_only_refusal
from tenantry.sqlite import is_locked
from tenantry.web.allow import allowed_methods
from tenantry.web.observe import CLIENT_CLOSED_REQUEST

log = logging.getLogger("tenantry.web")


class ErrorResponse(JSONResponse):
    """A JSON error response rendered with orjson."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> ErrorResponse:
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return ErrorResponse(error_body(code, message, details), status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(loc[-1] if loc else "")


@dataclass(frozen=True, slots=True)
class Problem:
    """What an error answers: its status, code and message, shown as JSON by the API and
    as a page by a web UI (one source for both: :func:`problem_of`)."""

    status: int
    code: str
    message: str
    details: Any = None
    headers: Mapping[str, str] | None = None


_INTERNAL = Problem(500, "internal_error", "The server could not complete the request.")
_DATABASE_DOWN = Problem(
    503,
    "database_unavailable",
    "The database cannot be reached; try again shortly.",
    headers={"Retry-After": "5"},
)


def _database_busy(why: str) -> Problem:
    """A 503 to retry shortly: nothing was written, and nothing is broken."""
    return Problem(
        503, "database_busy", f"{why}; try again in a moment.", headers={"Retry-After": "2"}
    )


_BUSY = _database_busy("Another write is taking longer than the wait allowed")
_POOL_FULL = _database_busy("Every database connection is in use")


def _pool_full(request: Request, exc: Exception) -> Problem:
    # No pooled connection came free within the pool's timeout: the server is overloaded,
    # not broken, and a retry goes through once requests finish (nothing was written).
    log.warning("no database connection free on %s %s", request.method, request.url.path)
    return _POOL_FULL


def _busy(request: Request) -> Problem:
    # SQLite has one writer at a time: a long write (a large import) made this one wait
    # past its busy timeout. Nothing was written; a retry goes through.
    log.warning("write lock busy on %s %s", request.method, request.url.path)
    return _BUSY


def _tenantry_error(request: Request, exc: Exception) -> Problem:
    assert isinstance(exc, TenantryError)
    if exc.status == 500:  # our own faults; a 503 (a service down) says what it is
        # A programming error in the route (a query with no tenant, a write in a GET):
        # the route and the traceback are what its author needs to find it.
        log.error(
            "%s on %s %s: %s",
            exc.code,
            request.method,
            request.url.path,
            exc.message,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        return _INTERNAL
    return Problem(exc.status, exc.code, exc.message, exc.details, getattr(exc, "headers", None))


def _problem(error: Any) -> dict[str, str]:
    loc = tuple(error.get("loc", ()))
    if error.get("type") == "json_invalid":  # its loc ends with a character offset
        reason = (error.get("ctx") or {}).get("error", "")
        at = f" at character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
        return {"field": "body", "message": f"not valid JSON{at}: {reason}".rstrip(": ")}
    return {"field": _field(loc), "message": _words(error)}


# The common refusals in the words the domain's own checks use ("note: has at most 2000
# characters"), not pydantic's ("String should have at most 2000 characters"); any
# other keeps pydantic's message.
_WORDS = {
    "missing": "is required",
    "string_too_long": "has at most {max_length} characters",
    "string_too_short": "has at least {min_length} characters",
    "too_long": "has at most {max_length} items",
    "too_short": "has at least {min_length} items",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "greater_than": "must be more than {gt}",
    "less_than": "must be less than {lt}",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "literal_error": "must be one of {expected}",
    "enum": "must be one of {expected}",
}


def _words(error: Any) -> str:
    """What ``error`` (one of pydantic's) says, in our words where we have them, and a
    validator's own words without pydantic's "Value error, " before them."""
    kind, ctx = error.get("type"), error.get("ctx") or {}
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    template = _WORDS.get(kind)
    if template is not None:
        try:
            return template.format(**ctx)
        except (KeyError, IndexError):
            pass
    return str(error.get("msg", "")).removeprefix("Value error, ")


def _without_null_branches(errors: Sequence[Any]) -> list[Any]:
    """A field of type ``X | None`` (pydantic keeps such a union when ``None`` is a
    schema of its own, as a "left out" marker is) fails once per branch, each located
    under the branch's name: ``is_replacement.bool`` and ``is_replacement.none``. The
    ``none`` branch says nothing the other does not: it is dropped, and the other is
    named by its field."""
    nulls = {tuple(e["loc"][:-1]) for e in errors if e.get("loc") and e["loc"][-1] == "none"}
    kept = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if loc[:-1] in nulls:
            if loc[-1] == "none":
                continue
            error = {**error, "loc": loc[:-1]}
        kept.append(error)
    return kept


def _validation_error(request: Request, exc: Exception) -> Problem:
    assert isinstance(exc, RequestValidationError)
    fields = [_problem(e) for e in _without_null_branches(exc.errors())]
    first = fields[0] if fields else {"field": "", "message": "invalid input"}
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    # ``field`` names the first problem, as the domain's 422s do; ``fields`` lists them all.
    return Problem(422, "validation_error", message, {"field": first["field"], "fields": fields})


def _http_error(request: Request, exc: Exception) -> Problem:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # every method of the path, from every route that serves it
        headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
    return Problem(exc.status_code, code, message, headers=headers)


def _unstorable(request: Request, exc: Exception) -> Problem:
    # The database refused a value (a number beyond its column, a NUL byte in text):
    # the input's fault, so a 422, and the transaction is rolled back by the session.
    # The exception's text can quote the refused value (tenant data): its class only.
    log.info("unstorable value on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return Problem(422, "invalid_value", "a value is out of range or cannot be stored")


# What refused a write, by PostgreSQL's SQLSTATE and SQLite's extended result code.
_NOT_NULL = {"23502", 1299}  # not_null_violation, SQLITE_CONSTRAINT_NOTNULL
_CHECK = {"23514", 275}  # check_violation, SQLITE_CONSTRAINT_CHECK
_UNIQUE = {"23505", 2067, 1555}  # unique_violation, SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
_FOREIGN_KEY = {"23503", 787}  # foreign_key_violation, SQLITE_CONSTRAINT_FOREIGNKEY
# program_limit_exceeded: an index row beyond its page (a long text in a B-tree index)
_TOO_LARGE = "54000"


def _refusal(exc: Exception) -> object:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorcode", None)


def _named(exc: Exception, field: str, sqlite_says: str) -> str | None:
    """The schema object a refusal names (never a value): ``field`` of psycopg's and
    asyncpg's diagnostics, else what follows SQLite's ``sqlite_says``."""
    orig = getattr(exc, "orig", None)
    for source in (getattr(orig, "diag", None), getattr(orig, "__cause__", None)):
        name = getattr(source, field, None)
        if name:
            return str(name)
    said = str(orig or "")
    if not said.startswith(sqlite_says):
        return None
    return said.removeprefix(sqlite_says).strip() or None


def _null_column(exc: Exception) -> str | None:
    """The column a NOT NULL refusal names (SQLite says ``table.column``)."""
    named = _named(exc, "column_name", "NOT NULL constraint failed: ")
    return named.rsplit(".", 1)[-1] if named else None


def _check_name(exc: Exception) -> str | None:
    """The CHECK constraint that refused a value."""
    return _named(exc, "constraint_name", "CHECK constraint failed: ")


def _refused_value(code: str, key: str, name: str | None, said: str, unnamed: str) -> Problem:
    """A 422 naming what refused the value (``details[key]``) when the database said it."""
    if name is None:
        return Problem(422, code, unnamed)
    return Problem(422, code, said.format(name), {key: name})


def _constraint(request: Request, exc: Exception) -> Problem:
    # A constraint refused the write: a reference to a row that is not in this tenant (the
    # composite tenant foreign keys), or a unique value already taken. The input's fault,
    # so a 409, not a 500; the session rolls back. Its text quotes values: its class only.
    # A null where a value is required, or one a CHECK refuses, is no conflict: a 422.
    refusal = _refusal(exc)
    if refusal in _NOT_NULL:
        log.info("a null refused on %s %s", request.method, request.url.path)
        return _refused_value(
            "missing_value",
            "column",
            _null_column(exc),
            "{} is required: it cannot be null",
            "a required value is null",
        )
    if refusal in _CHECK:
        log.info("a CHECK refused a value on %s %s", request.method, request.url.path)
        return _refused_value(
            "invalid_value",
            "constraint",
            _check_name(exc),
            "a value is refused by the rule {}",
            "a value is refused by a rule",
        )
    log.info("constraint refused a write on %s %s", request.method, request.url.path)
    # Still one code, but the message and details say which of the two (a route cannot
    # otherwise tell "that key is taken" from "that project is not here").
    if refusal in _UNIQUE:
        return _conflict(
            _named(exc, "constraint_name", "UNIQUE constraint failed: "),
            "a value that must be unique is taken ({})",
            "a value that must be unique is taken",
        )
    if refusal in _FOREIGN_KEY:
        return _conflict(
            _named(exc, "constraint_name", "FOREIGN KEY constraint failed: "),  # SQLite: none
            "a row it refers to does not exist in this tenant ({})",
            "a row it refers to does not exist in this tenant",
        )
    return Problem(
        409,
        "conflict",
        "the change conflicts with this tenant's data: a row it refers to does not exist "
        "here, or a value that must be unique is taken",
    )


def _conflict(name: str | None, said: str, unnamed: str) -> Problem:
    """A 409 naming the constraint (never a value) when the database said it."""
    if name is None:
        return Problem(409, "conflict", unnamed)
    return Problem(409, "conflict", said.format(name), {"constraint": name})


def _stale(request: Request, exc: Exception) -> Problem:
    # An update or delete by key matched fewer rows than it named: a key of another
    # tenant (scoping and RLS hide its row) or a row deleted meanwhile. Nothing was
    # changed (the session rolls back): the input's fault, a 409 like a constraint's.
    log.info("a write by key matched fewer rows on %s %s", request.method, request.url.path)
    return Problem(
        409, "conflict", "a row the change names does not exist here, or changed meanwhile"
    )


def _sqlite_error(request: Request, exc: Exception) -> Problem:
    # Raised by tenantry's own writer turns (sqlite.WriterTurns.take), not wrapped by
    # SQLAlchemy: the wait for this process's turn to write ran out.
    return _busy(request) if is_locked(exc) else _unexpected(request, exc)


def _driver_error(request: Request, exc: Exception) -> Problem:
    if is_locked(exc):  # another process held SQLite's write lock past the busy timeout
        return _busy(request)
    if is_connection_failure(exc):
        # An outage, not a fault of ours: a 503 the client may retry. The class only: a
        # connection error's text names hosts and roles.
        cause = type(getattr(exc, "orig", None))
        log.warning(
            "database unavailable on %s %s: %s (%s.%s)",
            request.method,
            request.url.path,
            type(exc).__name__,
            cause.__module__,
            cause.__qualname__,
        )
        return _DATABASE_DOWN
    if is_read_only_refusal(exc):  # raw SQL writing in a GET's session: the host's fault
        log.error("%s %s: %s", request.method, request.url.path, READ_ONLY_MESSAGE)
        return _INTERNAL
    # asyncpg's errors reach SQLAlchemy as its generic DBAPIError, not DataError or
    # IntegrityError as psycopg's do: sort them by SQLSTATE class (22: data exception,
    # 23: integrity constraint); a value too long for an index (54000) is the input's
    # too. A value asyncpg cannot even encode for its column (an
    # integer beyond BIGINT) fails in the driver as a ValueError, before any SQL runs.
    orig = getattr(exc, "orig", None)
    state = str(getattr(orig, "sqlstate", None) or "")
    if state.startswith("22") or isinstance(getattr(orig, "__cause__", None), ValueError):
        return _unstorable(request, exc)
    if state == _TOO_LARGE:
        log.info("a value too large to index on %s %s", request.method, request.url.path)
        return Problem(422, "invalid_value", "a value is too large to store or index")
    if state.startswith("23"):
        return _constraint(request, exc)
    return _unexpected(request, exc)


_CLIENT_GONE = Problem(
    CLIENT_CLOSED_REQUEST,
    "client_closed_request",
    "The client went away before the request was read in full.",
)


def _client_gone(request: Request, exc: Exception) -> Problem:
    # Starlette raises ClientDisconnect when a route reads a body whose client left (a
    # request that waited its turn): nothing to answer and nothing wrong with the server,
    # so no 500 and no traceback; the request log and metrics record 499.
    return _CLIENT_GONE


def _unexpected(request: Request, exc: Exception) -> Problem:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _INTERNAL


# Each kind of failure and what it answers; the most specific class of an exception's
# MRO wins, as in Starlette's own handler lookup.
_KINDS: dict[type[Exception], Callable[[Request, Exception], Problem]] = {
    TenantryError: _tenantry_error,
    RequestValidationError: _validation_error,
    StarletteHTTPException: _http_error,
    DataError: _unstorable,
    IntegrityError: _constraint,
    DBAPIError: _driver_error,
    sqlite3.OperationalError: _sqlite_error,
    StaleDataError: _stale,
    PoolTimeout: _pool_full,
    OverflowError: _unstorable,
    ClientDisconnect: _client_gone,
    Exception: _unexpected,
}


def problem_of(request: Request, exc: Exception) -> Problem:
    """What ``exc`` answers on ``request`` (logged as its kind needs: a fault with its
    traceback, the input's fault as a line)."""
    for cls in type(exc).__mro__:
        kind = _KINDS.get(cls)
        if kind is not None:
            return kind(request, exc)
    return _unexpected(request, exc)


async def _answer(request: Request, exc: Exception) -> ErrorResponse:
    problem = problem_of(request, exc)
    headers = dict(problem.headers) if problem.headers else None
    return error_response(problem.status, problem.code, problem.message, problem.details, headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every failure as ``{"error": {...}}`` (:func:`problem_of` says which)."""
    for cls in _KINDS:
        app.add_exception_handler(cls, _answer)
