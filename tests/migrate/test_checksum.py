"""The table checksum: equal for equal rows, changed by any change, readable in the old format."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from tenantry.migrate import apply, conversion_engine, state, verify
from tenantry.migrate.checksum import _marshal_batch, table_checksum
from tenantry.migrate.progress import Reporter
from tenantry.migrate.samples import generate
from tenantry.migrate.schema import table_info
from tests.migrate.conftest import example

QUIET = Reporter(quiet=True)


@pytest.fixture
def electricity(legacy_url: str) -> str:
    """The electricity sample, on each backend."""
    engine = create_engine(legacy_url)
    generate(engine, "electricity")
    engine.dispose()
    return legacy_url


def test_equal_values_give_equal_bytes_whatever_objects_hold_them() -> None:
    shared = "household " * 3
    reused = [(1, shared, 2.5), (2, shared, 2.5)]  # one str object, twice
    fresh = [(1, "household " * 3, 2.5), (2, "".join(["household "] * 3), 2.5)]
    assert reused[0][1] is reused[1][1] and fresh[0][1] is not fresh[1][1]
    assert _marshal_batch(reused) == _marshal_batch(fresh)
    assert _marshal_batch(reused) != _marshal_batch([(1, shared, 2.5), (2, shared, 2.25)])


def test_rows_marshal_cannot_write_are_hashed_by_value() -> None:
    def batch(minute: int) -> list[tuple[object, ...]]:
        return [(1, datetime(2026, 1, 1, 12, minute, tzinfo=UTC), Decimal("1.50"))]

    assert _marshal_batch(batch(0)) == _marshal_batch(batch(0))
    assert _marshal_batch(batch(0)) != _marshal_batch(batch(1))


def _readings_digest(engine: Engine, like: str | None = None) -> str:
    with engine.connect() as conn:
        info = table_info(conn, "readings")
        columns = [c for c in info.columns if c != "tenant_id"]
        return table_checksum(conn, "readings", columns, order_by=["id"], like=like)[1]


def test_a_changed_value_fails_verification(electricity: str, tmp_path: Path) -> None:
    engine = conversion_engine(electricity)
    result = apply(engine, example("electricity"), backup_path=tmp_path / "b", reporter=QUIET)
    with engine.begin() as conn:
        conn.execute(text("UPDATE readings SET meter_wh = meter_wh + 1 WHERE id = 7"))
    checks = verify(engine, example("electricity"), result.plan, QUIET)
    failed = {c.name for c in checks.checks if not c.ok}
    assert failed == {"checksum:readings"}
    engine.dispose()


def test_a_digest_stored_in_the_old_format_still_verifies(electricity: str, tmp_path: Path) -> None:
    """A conversion begun by a tenantry that stored repr digests, verified by this one."""
    engine = conversion_engine(electricity)
    old = _readings_digest(engine, like="")
    assert ":" not in old and _readings_digest(engine).startswith("m2:")
    with engine.connect() as conn:  # the old format, written out: repr of each batch
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(
            "SELECT id, user_id, read_at, meter_wh, note, is_replacement, created_at "
            "FROM readings ORDER BY id"
        )
        rows = cursor.fetchall()
        cursor.close()
    assert len(rows) < 20_000  # one batch
    assert (
        old == hashlib.blake2b(repr([tuple(r) for r in rows]).encode(), digest_size=16).hexdigest()
    )

    result = apply(engine, example("electricity"), backup_path=tmp_path / "b", reporter=QUIET)
    with engine.begin() as conn:
        conn.execute(
            text(f"UPDATE {state.SNAPSHOT_TABLE} SET checksum = :h WHERE table_name = 'readings'"),
            {"h": old},
        )
    assert verify(engine, example("electricity"), result.plan, QUIET).ok
    with engine.begin() as conn:
        conn.execute(text("UPDATE readings SET note = 'changed' WHERE id = 7"))
    checks = verify(engine, example("electricity"), result.plan, QUIET)
    assert {c.name for c in checks.checks if not c.ok} == {"checksum:readings"}
    engine.dispose()
