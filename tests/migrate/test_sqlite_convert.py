"""The SQLite rebuild: defaults as declared, every row copied in batches of rows, and the
copied legacy table dropped without rewriting its pages."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from tenantry.migrate import (
    apply,
    conversion_engine,
    faults,
    finish,
    load_mapping,
    sqlite_convert,
    state,
    verify,
)
from tenantry.migrate.sqlite_convert import _drop_copied, default_sql
from tests.migrate.test_apply import QUIET
from tests.migrate.test_sqlite_limits import legacy, mapping, tenantize

MARK = "needle-1f3a9c"


def _file_with_rows(path: Path) -> None:
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE legacy (id INTEGER PRIMARY KEY, note TEXT)")
        conn.exec_driver_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) "
            f"INSERT INTO legacy (note) SELECT '{MARK}' || i FROM n"
        )
    engine.dispose()


def test_the_copied_table_is_dropped_without_zeroing_and_the_setting_is_kept(
    tmp_path: Path,
) -> None:
    db = tmp_path / "a.db"
    _file_with_rows(db)
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA secure_delete = 1")
        _drop_copied(conn, "legacy")
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
        names = conn.exec_driver_sql("SELECT name FROM sqlite_master").scalars().all()
    engine.dispose()
    assert "legacy" not in names
    assert MARK.encode() in db.read_bytes()  # freed, not rewritten


def test_a_plain_drop_with_secure_delete_zeroes_the_pages(tmp_path: Path) -> None:
    """The control: what the swap's drop avoids (Debian's SQLite deletes securely)."""
    db = tmp_path / "a.db"
    _file_with_rows(db)
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA secure_delete = 1")
        conn.exec_driver_sql("DROP TABLE legacy")
    engine.dispose()
    assert MARK.encode() not in db.read_bytes()


# -- the rebuilt table's defaults ------------------------------------------------------------

DEFAULTS = (
    "CREATE TABLE invoices (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL"
    " REFERENCES users(id), issued_on TEXT NOT NULL DEFAULT (date('now')),"
    " twice INTEGER DEFAULT (1+1), minus INTEGER DEFAULT -1, note TEXT DEFAULT 'it''s',"
    " raw BLOB DEFAULT x'00ff', flag DEFAULT TRUE, gone DEFAULT NULL, kind DEFAULT draft)"
)
DEFAULTED = "issued_on, twice, minus, note, raw, flag, gone, kind"


def _defaults_of_a_new_row(path: Path, tenant: bool) -> tuple[object, ...]:
    """Insert a row naming none of the defaulted columns; return what they got."""
    con = sqlite3.connect(path)
    columns, values = (
        ("tenant_id, id, user_id", "'t', 99, 1") if tenant else ("id, user_id", "99, 1")
    )
    con.execute(f"INSERT INTO invoices ({columns}) VALUES ({values})")
    row: tuple[object, ...] = con.execute(
        f"SELECT {DEFAULTED} FROM invoices WHERE id = 99"
    ).fetchone()
    con.close()
    return row


def test_expression_defaults_are_kept_and_literal_ones_rebuilt_as_written(
    tmp_path: Path,
) -> None:
    """``DEFAULT (date('now'))`` stopped --apply half-way (near "(": syntax error): the
    rebuild wrote the PRAGMA's ``date('now')`` without its brackets."""
    url = legacy(tmp_path, DEFAULTS, "INSERT INTO invoices (id, user_id) VALUES (1, 1), (2, 2)")
    backup = tmp_path / "before.sqlite"
    toml = mapping(tmp_path, '[tables.invoices]\nowner = "user_id"\n')
    code, out = tenantize("--db", url, "--map", toml, "--apply", "--quiet", "--backup", str(backup))
    assert code == 0 and "verified" in out, out
    converted = tmp_path / "r.db"
    assert _defaults_of_a_new_row(converted, True) == _defaults_of_a_new_row(backup, False)
    con = sqlite3.connect(converted)
    sql = con.execute("SELECT sql FROM sqlite_master WHERE name = 'invoices'").fetchone()[0]
    con.close()
    for literal in ("-1", "'it''s'", "x'00ff'", "TRUE", "NULL", "draft"):
        assert f"DEFAULT {literal}," in sql or f"DEFAULT {literal}\n" in sql, sql
    assert "DEFAULT (date('now'))" in sql and "DEFAULT (1+1)" in sql


def test_default_sql_brackets_expressions_and_leaves_literals_as_written() -> None:
    """What ``PRAGMA table_xinfo`` gives, and what the rebuilt ``DEFAULT`` says."""
    literals = ["0", "-1.5e3", "0x1F", "'a (b)'", "x'00ff'", "CURRENT_TIMESTAMP", '"quoted"']
    expressions = ["date('now')", "1+1", "'a' || 'b'", "- 1", "(1)"]
    assert [default_sql(v) for v in literals] == literals
    assert [default_sql(v) for v in expressions] == [f"({v})" for v in expressions]


# -- copying by rowid: every row, in batches of rows ------------------------------------------

EXTREMES = (
    "INSERT INTO notes VALUES (-9223372036854775808, 1, 'min'), (-5, 2, 'negative'),"
    " (0, 1, 'zero'), (9007199254740993, 2, 'past 2**53'), (9223372036854775807, 1, 'max')"
)


class Crash(Exception):
    """Stands for a kill between two committed batches."""


def _copy_batches(monkeypatch: pytest.MonkeyPatch, stop_after: int | None = None) -> list[str]:
    """Record the copy's committed batches; raise after ``stop_after`` of them (a crash),
    or after 50 (a copy walking empty rowid ranges would take for ever)."""
    batches: list[str] = []

    def checkpoint(label: str) -> None:
        if label.startswith("copy ") and label.endswith(" batch"):
            batches.append(label)
            if len(batches) == stop_after:
                raise Crash(label)
            assert len(batches) < 50, "the copy walks empty rowid ranges"

    monkeypatch.setattr(faults, "checkpoint", checkpoint)
    return batches


def _notes(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, body FROM notes ORDER BY id").all()
    return [(int(i), str(b)) for i, b in rows]


def _apply_and_verify(engine: Engine, toml: str, backup: Path) -> None:
    mapping_ = load_mapping(Path(toml))
    result = apply(engine, mapping_, backup_path=backup, reporter=QUIET)
    checks = verify(engine, mapping_, result.plan, QUIET)
    assert checks.ok, [c for c in checks.checks if not c.ok]
    finish(engine, result.plan, QUIET)


def test_a_huge_id_is_one_row_to_copy_not_two_quadrillion_ranges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids 1 and 9007199254740993: --apply walked rowid ranges of 50,000 up to the largest,
    a commit each, and never finished."""
    engine = conversion_engine(
        legacy(tmp_path, "INSERT INTO notes VALUES (9007199254740993, 1, 'far')")
    )
    before = _notes(engine)
    batches = _copy_batches(monkeypatch)
    _apply_and_verify(engine, mapping(tmp_path, ""), tmp_path / "b.sqlite")
    assert batches == ["copy notes batch"]
    assert _notes(engine) == before
    engine.dispose()


def test_zero_negative_and_extreme_rowids_are_copied_and_a_crash_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows with rowid <= 0 were left behind (the copy took rowid > 0): --apply then failed,
    for ever, blaming 'rows written during the conversion'."""
    monkeypatch.setattr(sqlite_convert, "BATCH", 2)
    engine = conversion_engine(legacy(tmp_path, EXTREMES))
    before = _notes(engine)
    assert len(before) == 7
    toml, backup = mapping(tmp_path, ""), tmp_path / "b.sqlite"
    _copy_batches(monkeypatch, stop_after=2)
    with pytest.raises(Crash):
        apply(engine, load_mapping(Path(toml)), backup_path=backup, reporter=QUIET)
    with engine.connect() as conn:
        found = state.get(conn, "copy:notes")
        copied = conn.exec_driver_sql("SELECT count(*) FROM notes__tenantize").scalar()
    assert found is not None and found[1]["copied"] == copied == 4
    assert found[1]["after"] == 1  # the batch state: the last rowid copied

    batches = _copy_batches(monkeypatch)
    _apply_and_verify(engine, toml, backup)
    assert len(batches) == 2  # the 3 rows left, 2 at a time
    assert _notes(engine) == before
    engine.dispose()


def test_a_copy_interrupted_by_the_range_copying_version_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its state, ``{last, max, copied}``, counts only rowids above 0: resuming after
    ``last`` would lose the row at -5; the copy of that table starts again instead."""
    monkeypatch.setattr(sqlite_convert, "BATCH", 1)
    engine = conversion_engine(legacy(tmp_path, "INSERT INTO notes VALUES (-5, 2, 'negative')"))
    before = _notes(engine)
    toml, backup = mapping(tmp_path, ""), tmp_path / "b.sqlite"
    _copy_batches(monkeypatch, stop_after=2)  # rows -5 and 1 copied
    with pytest.raises(Crash):
        apply(engine, load_mapping(Path(toml)), backup_path=backup, reporter=QUIET)
    with engine.begin() as conn:  # as the range-copying version left it: rowid 1 copied
        conn.exec_driver_sql("DELETE FROM notes__tenantize WHERE id = -5")
        state.put(conn, "copy:notes", "running", {"last": 1, "max": 2, "copied": 1})

    _copy_batches(monkeypatch)
    _apply_and_verify(engine, toml, backup)
    assert _notes(engine) == before
    engine.dispose()
