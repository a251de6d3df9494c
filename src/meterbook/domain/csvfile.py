"""CSV files of readings and vouchers: the columns, parsing with row-level errors, writing."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from meterbook.domain.errors import RuleViolation

T = TypeVar("T")

READING_COLUMNS = ("read_at", "meter_kwh", "note", "is_replacement")
READING_REQUIRED = ("read_at", "meter_kwh")
VOUCHER_COLUMNS = ("purchased_on", "amount", "currency", "kwh", "token_number", "vendor", "notes")
VOUCHER_REQUIRED = ("purchased_on", "amount", "kwh")
MAX_ROWS = 20_000
# What a spreadsheet runs as a formula when a cell starts with it (CSV injection).
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_GUARD = "'"


def guarded(text: str) -> str:
    """``text`` for a cell: a leading apostrophe where a spreadsheet would see a formula,
    and before text that already starts with one such apostrophe (so :func:`unguarded`
    gives every text back exactly: an export imports as it was)."""
    return _GUARD + text if text.startswith(_FORMULA) or unguarded(text) != text else text


def unguarded(text: str) -> str:
    """The text :func:`guarded` was given."""
    if text.startswith(_GUARD) and text[1:2] and text[1] in (*_FORMULA, _GUARD):
        return text[1:]
    return text


# A spreadsheet set to another locale writes these instead of commas.
_SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


@dataclass(frozen=True, slots=True)
class RowError:
    """What is wrong with one line of a file (``row`` counts the header as line 1)."""

    row: int
    field: str
    message: str


def decode(raw: bytes) -> str:
    """The text of an uploaded file: UTF-8 (a BOM is dropped) with no NUL, which no text has.

    Raises:
        RuleViolation: on ``file`` for anything else (a picture, a spreadsheet, UTF-16).
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RuleViolation("file", "the file must be UTF-8 text") from None
    if "\x00" in text:  # UTF-16, a spreadsheet's binary format, or a stray NUL character
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise RuleViolation(
            "file", f"the file holds a NUL character (line {line}): save it as plain UTF-8 text"
        )
    return text


def _file_problem(text: str, header: list[str], columns: Sequence[str]) -> RowError | None:
    """What makes the whole file unreadable, said as such rather than as missing columns."""
    if not text.strip():
        return RowError(1, "file", "the file is empty")
    for separator, name in _SEPARATORS.items():
        if len(header) == 1 and separator in header[0]:
            return RowError(
                1,
                "header",
                f"separate the columns with commas, not {name} (expected {', '.join(columns)})",
            )
    return None


def parse_csv(
    text: str,
    *,
    columns: Sequence[str],
    required: Sequence[str],
    build: Callable[[dict[str, str | None]], T],
) -> tuple[list[tuple[int, T]], list[RowError]]:
    """Parse every row; return the records with their line numbers, and every error found."""
    text = text.lstrip("\ufeff")
    # strict: a quote left open (or one in the middle of a value) is an error, never a value
    # that runs on over the next lines and swallows their rows.
    reader = csv.DictReader(io.StringIO(text), strict=True)
    try:
        fieldnames = reader.fieldnames  # reads the header line
    except csv.Error as exc:  # the same defects as a row's, and said the same way (was a 500)
        return [], [RowError(1, "header", _quote_problem(str(exc)))]
    header = [h.strip() for h in (fieldnames or [])]
    reader.fieldnames = header
    unreadable = _file_problem(text, header, columns)
    if unreadable is not None:
        return [], [unreadable]
    missing = [c for c in required if c not in header]
    unknown = [h for h in header if h not in columns]
    if missing or unknown:
        parts = []
        if missing:
            parts.append("missing column(s): " + ", ".join(missing))
        if unknown:
            parts.append("unknown column(s): " + ", ".join(unknown))
        return [], [RowError(1, "header", "; ".join(parts) + f" (expected {', '.join(columns)})")]
    records: list[tuple[int, T]] = []
    errors: list[RowError] = []
    for count, row in enumerate(_rows(reader, errors), start=1):
        # The line the row starts on (a quoted value may span lines; blank lines are skipped).
        line = reader.line_num - sum((v or "").count("\n") for v in row.values())
        if count > MAX_ROWS:
            errors.append(RowError(line, "file", f"at most {MAX_ROWS} rows per import"))
            break
        if None in row:
            errors.append(RowError(line, "row", "more values than columns"))
            continue
        given = sum(v is not None for v in row.values())
        if given < len(header) and any((v or "").strip() for v in row.values()):
            errors.append(
                RowError(line, "row", f"fewer values than columns ({given} of {len(header)})")
            )
            continue
        if not any((v or "").strip() for v in row.values()):
            continue  # blank line
        try:
            records.append((line, build({k: v and unguarded(v) for k, v in row.items()})))
        except RuleViolation as exc:
            errors.append(RowError(line, exc.field, exc.message))
    if not records and not errors:
        errors.append(RowError(1, "file", "the file has no rows"))
    return records, errors


def _rows(reader: csv.DictReader[str], errors: list[RowError]) -> Iterator[dict[str, str | None]]:
    """The reader's rows until one cannot be read; that one is added to ``errors``."""
    while True:
        after = reader.line_num
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.append(RowError(after + 1, "row", _quote_problem(str(exc))))
            return
        yield row


def _quote_problem(error: str) -> str:
    """What the ``csv`` module's error means, for a person fixing the file."""
    if "field larger than field limit" in error:
        return f"a value is longer than {csv.field_size_limit()} characters"
    if "expected after" in error:
        return (
            'a quote (") inside a value: put the whole value in quotes and double the quote '
            'inside it ("")'
        )
    return (
        'a quoted value is never closed: a quote (") opened on this line has no closing one, '
        "so the lines after it would be read as part of the value"
    )


def write_csv(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """Yield the CSV text line by line (header first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
