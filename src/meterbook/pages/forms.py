"""Turning posted forms into drafts: local times to UTC, rule violations to field errors."""

from __future__ import annotations

from datetime import datetime, tzinfo

from meterbook.domain import RuleViolation
from meterbook.domain.records import ReadingDraft, VoucherDraft, reading_from_row, voucher_from_row
from tenantry.errors import ValidationFailed

Errors = dict[str, str]


def _local_to_aware(text: str, zone: tzinfo) -> str:
    """A ``datetime-local`` value is the person's wall-clock time."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return text
    return (value if value.tzinfo else value.replace(tzinfo=zone)).isoformat()


def reading_draft(fields: dict[str, str], zone: tzinfo) -> tuple[ReadingDraft | None, Errors]:
    row: dict[str, str | None] = dict(fields)
    row["read_at"] = _local_to_aware(fields.get("read_at", ""), zone)
    row["is_replacement"] = "yes" if fields.get("is_replacement") else "no"
    try:
        return reading_from_row(row), {}
    except RuleViolation as exc:
        return None, {exc.field: exc.message}


def voucher_draft(fields: dict[str, str]) -> tuple[VoucherDraft | None, Errors]:
    try:
        return voucher_from_row(dict(fields)), {}
    except RuleViolation as exc:
        return None, {exc.field: exc.message}


def field_errors(exc: ValidationFailed) -> Errors:
    details = exc.details if isinstance(exc.details, dict) else {}
    return {str(details.get("field", "form")): str(details.get("reason", exc.message))}


def row_errors(exc: ValidationFailed) -> list[dict[str, object]]:
    details = exc.details if isinstance(exc.details, dict) else {}
    rows = details.get("rows")
    return list(rows) if isinstance(rows, list) else []
