"""UTCDateTime: aware UTC in, aware UTC out, whatever spelling SQLite holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, select, text

from tenantry.models.base import UTCDateTime


def test_round_trip_and_legacy_spellings() -> None:
    engine = create_engine("sqlite://")
    table = Table(
        "t", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime())
    )
    table.metadata.create_all(engine)
    plus_two = timezone(timedelta(hours=2))
    with engine.begin() as conn:
        conn.execute(
            table.insert().values(id=1, at=datetime(2024, 1, 2, 5, 4, 5, 6, tzinfo=plus_two))
        )
        conn.execute(text("INSERT INTO t VALUES (2, '2024-01-02 03:04:05')"))
        conn.execute(text("INSERT INTO t VALUES (3, '2024-01-02T03:04:05Z')"))
        conn.execute(text("INSERT INTO t VALUES (4, NULL)"))
        # What legacy apps stored in a DATETIME column that tenantize copied as it was: a
        # Unix time (an export's traceback, a route's 500) and a date alone (read naive:
        # its export carried no offset, and the import refused it).
        conn.execute(text("INSERT INTO t VALUES (5, 1704164645)"))
        conn.execute(text("INSERT INTO t VALUES (6, 1704164645.5)"))
        conn.execute(text("INSERT INTO t VALUES (7, '2024-01-02')"))
        conn.execute(text("INSERT INTO t VALUES (8, '2024-01-02 05:04:05+02:00')"))
        values = conn.execute(select(table.c.at).order_by(table.c.id)).scalars().all()
    assert values == [
        datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        None,
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC),
        datetime(2024, 1, 2, tzinfo=UTC),
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    ]
    assert all(v is None or v.tzinfo is UTC for v in values)
    engine.dispose()


def test_naive_datetimes_are_refused() -> None:
    engine = create_engine("sqlite://")
    table = Table("t", MetaData(), Column("at", UTCDateTime()))
    table.metadata.create_all(engine)
    with pytest.raises(Exception, match="naive"), engine.begin() as conn:
        conn.execute(table.insert().values(at=datetime(2024, 1, 2)))
    engine.dispose()
