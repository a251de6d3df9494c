from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meterbook.domain import RuleViolation
from meterbook.domain.csvfile import (
    READING_COLUMNS,
    READING_REQUIRED,
    VOUCHER_COLUMNS,
    VOUCHER_REQUIRED,
    decode,
    parse_csv,
    write_csv,
)
from meterbook.domain.records import reading_from_row, voucher_from_row


def readings(text: str):  # type: ignore[no-untyped-def]
    return parse_csv(
        text, columns=READING_COLUMNS, required=READING_REQUIRED, build=reading_from_row
    )


def test_rows_parse_with_line_numbers() -> None:
    records, errors = readings(
        "read_at,meter_kwh,note,is_replacement\n2025-01-01T07:00,100.5,,no\n\n"
        "2025-01-02T07:00+02:00,101,new meter,yes\n"
    )
    assert errors == []
    assert [line for line, _ in records] == [2, 4]
    first, second = records[0][1], records[1][1]
    assert first.read_at == datetime(2025, 1, 1, 7, tzinfo=UTC)
    assert first.meter_wh == 100_500
    assert second.read_at == datetime(2025, 1, 2, 5, tzinfo=UTC)
    assert second.is_replacement


def test_every_bad_row_is_reported() -> None:
    _, errors = readings("read_at,meter_kwh\nyesterday,1\n2025-01-01,-3\n2025-01-02,\n")
    assert [(e.row, e.field) for e in errors] == [
        (2, "read_at"),
        (3, "meter_kwh"),
        (4, "meter_kwh"),
    ]


def test_header_problems_are_one_error() -> None:
    _, errors = readings("when,meter_kwh\n2025-01-01,1\n")
    assert len(errors) == 1
    assert "missing column(s): read_at" in errors[0].message
    assert "unknown column(s): when" in errors[0].message


def test_vouchers_parse() -> None:
    records, errors = parse_csv(
        "purchased_on,amount,kwh,currency\n2025-01-03,500.00,172.5,zar\n",
        columns=VOUCHER_COLUMNS,
        required=VOUCHER_REQUIRED,
        build=voucher_from_row,
    )
    assert errors == []
    voucher = records[0][1]
    assert (voucher.amount_minor, voucher.energy_wh, voucher.currency) == (50_000, 172_500, "ZAR")


def test_write_csv_has_the_header_first() -> None:
    assert "".join(write_csv(("a", "b"), [(1, "x,y")])) == 'a,b\n1,"x,y"\n'
    assert "".join(write_csv(("a",), [])) == "a\n"


def test_a_file_that_is_not_utf8_text_is_refused_as_such() -> None:
    assert decode("\ufeffread_at,meter_kwh\n".encode()) == "read_at,meter_kwh\n"
    for raw in (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"\xff\xfe\x00r\x00e"):
        with pytest.raises(RuleViolation) as refused:
            decode(raw)
        assert (refused.value.field, refused.value.message) == (
            "file",
            "the file must be UTF-8 text",
        )
    # Valid UTF-8 holding a NUL: said as such, with its line, not as "not UTF-8".
    with pytest.raises(RuleViolation) as refused:
        decode(b"read_at,meter_kwh,note\n2025-01-01T07:00,1,a\x00b\n")
    assert refused.value.message == (
        "the file holds a NUL character (line 2): save it as plain UTF-8 text"
    )


def test_an_empty_file_says_so() -> None:
    for text in ("", "\ufeff", " \n\n"):
        _, errors = readings(text)
        assert [(e.field, e.message) for e in errors] == [("file", "the file is empty")]


def test_another_separator_than_commas_is_named() -> None:
    _, errors = readings("read_at;meter_kwh\n2025-01-01T07:00;1\n")
    assert [(e.row, e.field) for e in errors] == [(1, "header")]
    assert errors[0].message.startswith("separate the columns with commas, not semicolons")
    _, errors = readings("read_at\tmeter_kwh\n2025-01-01T07:00\t1\n")
    assert "not tabs" in errors[0].message


HEADER = "read_at,meter_kwh,note,is_replacement\n"


@pytest.mark.parametrize(
    ("body", "line", "says"),
    [
        # A quote never closed would swallow every line after it into one note.
        (
            '2026-11-01T08:00,100,"oops,no\n2026-11-02T08:00,110,,no\n2026-11-03T08:00,120,,no\n',
            2,
            "never closed",
        ),
        ('2026-11-01T08:00,100,,no\n2026-11-02T08:00,110,"a"b,no\n', 3, "double the quote"),
        (
            "2026-11-01T08:00,100,,no\n2026-11-02T08:00,110\n",
            3,
            "fewer values than columns (2 of 4)",
        ),
        # Was said to be a quote never closed.
        ("2026-11-01T08:00,100," + "x" * 131_073 + ",no\n", 2, "longer than 131072 characters"),
    ],
)
def test_a_row_that_is_not_what_it_looks_like_is_refused_not_merged(
    body: str, line: int, says: str
) -> None:
    _, errors = readings(HEADER + body)
    assert [(e.row, e.field) for e in errors] == [(line, "row")]
    assert says in errors[0].message


@pytest.mark.parametrize(
    ("header", "says"),
    [
        ('"read_at"x,meter_kwh\n', "double the quote"),
        ('read_at,"meter_kwh\n', "never closed"),
        ("read_at,meter_kwh" + "x" * 131_073 + "\n", "longer than 131072 characters"),
    ],
)
def test_a_header_the_csv_module_cannot_read_is_a_header_error(header: str, says: str) -> None:
    """It raised csv.Error out of the parser: a 500 for every importer."""
    records, errors = readings(header + "2026-11-01T08:00,100\n")
    assert records == []
    assert [(e.row, e.field) for e in errors] == [(1, "header")]
    assert says in errors[0].message


def test_a_quoted_value_may_span_lines() -> None:
    records, errors = readings(
        HEADER + '2026-11-01T08:00,100,"two\nlines",no\n2026-11-02T08:00,110,,no\n'
    )
    assert errors == []
    assert [(line, r.note) for line, r in records] == [(2, "two\nlines"), (4, "")]
