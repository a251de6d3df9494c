"""The SQLite swap: the copied legacy table is dropped without rewriting its pages."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine

from tenantry.migrate.sqlite_convert import _drop_copied

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
