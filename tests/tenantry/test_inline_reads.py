"""InlineReads: the event loop's own SQLite reads, fresh on every call and never writing."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    Uuid,
    bindparam,
    create_engine,
    exc,
    func,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from tenantry.db import Database, NotInline
from tenantry.statements import StatementLog


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'inline.sqlite3'}")
    with database.session() as session:
        session.execute(text("CREATE TABLE members (id INTEGER PRIMARY KEY)"))
    return database


def _count(session: Session) -> int:
    return int(session.execute(text("SELECT count(*) FROM members")).scalar_one())


def test_each_read_sees_what_was_committed_before_it(db: Database) -> None:
    reads = db.inline_reads()
    assert reads is not None
    assert reads.read(_count) == 0
    with db.session() as session:  # another connection, as a route's session would be
        session.execute(text("INSERT INTO members (id) VALUES (1)"))
    assert reads.read(_count) == 1  # a removed membership counts on the next request
    with db.session() as session:
        session.execute(text("DELETE FROM members"))
    assert reads.read(_count) == 0
    db.dispose()


def test_a_write_through_them_is_refused(db: Database) -> None:
    reads = db.inline_reads()
    assert reads is not None
    with pytest.raises(exc.OperationalError, match="readonly"):
        reads.read(lambda s: s.execute(text("INSERT INTO members (id) VALUES (2)")))
    assert reads.read(_count) == 0
    db.dispose()


def test_reads_never_wait_for_each_other_and_reuse_a_connection(db: Database) -> None:
    reads = db.inline_reads()
    assert reads is not None
    both_inside = threading.Barrier(2, timeout=10)

    def meet(session: Session) -> int:
        connection = session.connection().connection.dbapi_connection
        both_inside.wait()  # each read is inside its transaction while the other one is
        return id(connection)

    seen: list[int] = []
    worker = threading.Thread(target=lambda: seen.append(reads.read(meet)))
    worker.start()
    here = reads.read(meet)
    worker.join()
    assert seen and seen[0] != here  # two at once: two connections, nobody waited

    def connection_id(session: Session) -> int:
        return id(session.connection().connection.dbapi_connection)

    first = reads.read(connection_id)
    assert reads.read(connection_id) == first  # one after another: the same one, no connect
    db.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_not_offered_where_another_connection_would_see_another_database(url: str) -> None:
    assert Database(url).inline_reads() is None


# A query of ~2M SQLite steps: 20 times the budget below, 1-3 ms on the loop if not cut.
_HEAVY = text(
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 200000) "
    "SELECT count(*) FROM r"
)


def test_a_read_within_its_steps_runs_and_returns(db: Database) -> None:
    reads = db.inline_reads()
    assert reads is not None
    assert reads.read_within(100_000, "count", _count) == 0
    db.dispose()


def test_a_read_past_its_steps_is_interrupted_then_sent_to_a_thread_for_a_while(
    db: Database,
) -> None:
    reads = db.inline_reads()
    assert reads is not None
    runs: list[str] = []

    def heavy(session: Session) -> int:
        runs.append("heavy")
        return int(session.execute(_HEAVY).scalar_one())

    with pytest.raises(NotInline):
        reads.read_within(100_000, ("heavy", "tenant A"), heavy)
    assert runs == ["heavy"]
    # Remembered: the same read of the same tenant does not hold the loop again...
    with pytest.raises(NotInline):
        reads.read_within(100_000, ("heavy", "tenant A"), heavy)
    assert runs == ["heavy"]
    # ...while another tenant's is tried, and with room enough it completes.
    assert reads.read_within(10_000_000, ("heavy", "tenant B"), heavy) == 200_000
    # The interrupted connection was handed back clean: no handler left to cut a long read.
    assert reads.read(lambda s: int(s.execute(_HEAVY).scalar_one())) == 200_000
    db.dispose()


def test_a_failing_read_is_its_own_error_not_a_slow_one(db: Database) -> None:
    reads = db.inline_reads()
    assert reads is not None
    with pytest.raises(exc.OperationalError, match="no such table"):
        reads.read_within(100_000, "bad", lambda s: s.execute(text("SELECT * FROM nowhere")))
    assert reads.read_within(100_000, "bad", _count) == 0  # not remembered as slow
    db.dispose()


def test_first_converts_as_the_orm_does_and_sees_each_commit(db: Database) -> None:
    """The membership check's bare read: UUIDs bound and returned as UUIDs (stored as
    text on SQLite), ``None`` for no row, and every commit before it seen."""
    table = Table("keys", MetaData(), Column("id", Uuid), Column("n", Integer))
    with db.session() as session:
        session.execute(text("CREATE TABLE keys (id CHAR(32), n INTEGER)"))
    reads = db.inline_reads()
    assert reads is not None
    statement = select(table.c.id, table.c.n).where(table.c.id == bindparam("key"))
    key = uuid.uuid4()
    assert reads.first(statement, {"key": key}) is None
    with db.session() as session:
        session.execute(table.insert().values(id=key, n=7))
    row = reads.first(statement, {"key": key})
    assert row == (key, 7) and isinstance(row[0], uuid.UUID)
    assert reads.first(statement, {"key": uuid.uuid4()}) is None  # another key: no row
    with db.session() as session:
        session.execute(table.delete())
    assert reads.first(statement, {"key": key}) is None
    db.dispose()


def test_a_statement_log_times_first(db: Database) -> None:
    """The membership check of every request shows in the console's statements."""
    log = StatementLog()
    db.setup_engines(log.watch)
    reads = db.inline_reads()
    assert reads is not None
    statement = select(func.count()).select_from(text("members")).where(text("id > :low"))
    for low in (0, 1, 2):
        assert reads.first(statement, {"low": low}) == (0,)
    timed = [s for s in log.slowest(log.capacity) if "FROM members" in s.sql]
    assert [s.calls for s in timed] == [3] and timed[0].max_seconds > 0
    db.dispose()


def test_a_routed_read_counts_its_steps_on_the_database_it_was_routed_to(
    db: Database, tmp_path: Path
) -> None:
    """With placements a read is routed to a tenant's own file first: the steps of that
    file's connection count too, and its handler is removed afterwards."""

    class Base(DeclarativeBase):
        pass

    class Other(Base):
        __tablename__ = "other"
        id: Mapped[int] = mapped_column(primary_key=True)

    other = create_engine(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    Base.metadata.create_all(other)
    with other.begin() as conn:
        conn.execute(text("INSERT INTO other (id) VALUES (1), (2)"))
    reads = db.inline_reads()
    assert reads is not None

    def route(session: Session) -> None:
        session.bind_mapper(Other, other)

    def light(session: Session) -> int:
        return int(session.execute(select(func.count()).select_from(Other)).scalar_one())

    def heavy(session: Session) -> int:
        return int(session.execute(_HEAVY, bind_arguments={"mapper": Other}).scalar_one())

    assert reads.read_within(100_000, "light", light, route=route) == 2  # the routed file
    with pytest.raises(NotInline):
        reads.read_within(100_000, "heavy", heavy, route=route)
    with other.connect() as conn:  # its pooled connection carries no handler any more
        assert conn.execute(_HEAVY).scalar_one() == 200_000
    other.dispose()
    db.dispose()
