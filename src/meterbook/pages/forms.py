"""Posted forms read through the API's own schemas, so a page accepts exactly what the API does.

A form differs from a JSON body only in its encoding (local times, a checkbox, the CSRF
field, empty optional inputs, numbers as people type them); those are translated here,
and the rules and their words are the schema's (:mod:`meterbook.api.schemas`) and the
core's (:func:`problem_of`).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from meterbook.api.schemas import ReadingIn, VoucherIn
from meterbook.domain.records import ReadingDraft, VoucherDraft
from meterbook.domain.units import decimal_text
from meterbook.pages.csrf import FIELD as CSRF_FIELD
from tenantry.errors import ValidationFailed
from tenantry.web import Input, problem_of

Errors = dict[str, str]
M = TypeVar("M", bound=Input)


def _local_to_aware(text: str, zone: tzinfo) -> str:
    """A ``datetime-local`` value is the person's wall-clock time."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return text
    return (value if value.tzinfo else value.replace(tzinfo=zone)).isoformat()


# The decimal inputs (``inputmode="decimal"``): a phone set to a comma locale types ``,``.
_DECIMALS = {"meter_kwh", "amount", "kwh"}


def _body(schema: type[Input], fields: dict[str, str]) -> dict[str, object]:
    """The form as the JSON body it stands for: an empty input is one not sent (optional:
    its default; required: "fill this in", not a parser's "input is too short"), and a
    number as a person types it (``48 213,4``) as a CSV import reads it."""
    body: dict[str, object] = {}
    for name, value in fields.items():
        if name == CSRF_FIELD:
            continue
        if value == "" and name in schema.model_fields:
            continue
        body[name] = decimal_text(value) if name in _DECIMALS else value
    return body


_REQUIRED = "is required"  # the core's words for a value not sent


def _errors(request: Request, schema: type[Input], exc: Exception) -> Errors:
    """Each field's first problem in the API's words; one the form has no input for, as the
    form's (``form``), so no refusal goes without its reason on the page."""
    problem = problem_of(request, exc)
    details = problem.details if isinstance(problem.details, dict) else {}
    listed = details.get("fields") or [
        {"field": details.get("field", ""), "message": details.get("reason", problem.message)}
    ]
    errors: Errors = {}
    for item in listed:
        field, message = str(item.get("field", "")), str(item.get("message", ""))
        if message == _REQUIRED:
            message = "fill this in"
        if field not in schema.model_fields:
            field, message = "form", f"{field}: {message}" if field else message
        errors.setdefault(field, message)
    return errors


def _validate(
    request: Request, schema: type[M], body: dict[str, object]
) -> tuple[M | None, Errors]:
    try:
        return schema.model_validate(body), {}
    except ValidationError as exc:
        return None, _errors(request, schema, RequestValidationError(exc.errors()))


def reading_draft(
    request: Request, fields: dict[str, str], zone: tzinfo
) -> tuple[ReadingDraft | None, Errors]:
    """The reading form as :class:`ReadingIn` reads it (``read_at`` in ``zone``)."""
    body = _body(ReadingIn, fields)
    if "read_at" in body:
        body["read_at"] = _local_to_aware(fields["read_at"], zone)
    body["is_replacement"] = bool(fields.get("is_replacement"))  # a checkbox: sent when ticked
    reading, errors = _validate(request, ReadingIn, body)
    if reading is None:
        return None, errors
    try:
        return reading.draft(), {}
    except ValidationFailed as exc:
        return None, field_errors(request, exc, ReadingIn)


def voucher_draft(request: Request, fields: dict[str, str]) -> tuple[VoucherDraft | None, Errors]:
    """The voucher form as :class:`VoucherIn` reads it."""
    voucher, errors = _validate(request, VoucherIn, _body(VoucherIn, fields))
    if voucher is None:
        return None, errors
    try:
        return voucher.draft(), {}
    except ValidationFailed as exc:
        return None, field_errors(request, exc, VoucherIn)


def field_errors(request: Request, exc: ValidationFailed, schema: type[Input]) -> Errors:
    """A service's refusal (a broken rule) as the errors of a form read by ``schema``."""
    return _errors(request, schema, exc)


def import_problems(exc: ValidationFailed) -> list[dict[str, object]]:
    """A refused import's lines to fix, or the one problem of the whole file (no ``row``)."""
    details = exc.details if isinstance(exc.details, dict) else {}
    rows = details.get("rows")
    if isinstance(rows, list):
        return list(rows)
    return [{"field": details.get("field", "file"), "message": details.get("reason", exc.message)}]
