"""Declared string lengths hold on both backends: SQLite stored 50 characters in a
``String(20)`` column that PostgreSQL refused, so one app answered differently on each."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Integer,
    Numeric,
    SmallInteger,
    create_engine,
    func,
    insert,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.ids import TenantId
from tenantry.lengths import NumberTooLarge, TooManyDecimalPlaces, ValueTooLong, install_lengths
from tenantry.models import Tenant
from tenantry.roles import Role
from tenantry_server.settings import Settings
from tests.conftest import only_sqlite
from tests.support.models import Note, NoteTag

CTX = TenantContext(tenant_id=TenantId(uuid.uuid4()), user_id=None, role=Role.OWNER)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    with database.session() as session:
        session.add(Tenant(id=CTX.tenant_id, slug="long", name="Long"))
    yield database
    database.dispose()


def _notes(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Note)) or 0)


def test_a_value_longer_than_its_column_is_refused_and_nothing_is_written(db: Database) -> None:
    with tenant_scope(CTX):
        with pytest.raises(ValueTooLong) as refused, db.session() as session:
            session.add(Note(body="x" * 201))
        assert refused.value.message == "test_notes.body holds at most 200 characters"
        assert refused.value.status == 422 and refused.value.code == "invalid_value"
        assert "x" * 20 not in str(refused.value.details)  # the value is tenant data
        assert _notes(db) == 0
        with db.session() as session:
            session.add(Note(body="é" * 200))  # characters, not bytes: at the limit is fine
        assert _notes(db) == 1


def test_a_change_that_makes_a_value_too_long_is_refused(db: Database) -> None:
    with tenant_scope(CTX):
        with db.session() as session:
            session.add(Note(body="short"))
        with pytest.raises(ValueTooLong), db.session() as session:
            session.scalars(select(Note)).one().body = "y" * 300
        with db.sessions() as session:
            assert session.scalars(select(Note.body)).one() == "short"


@only_sqlite
def test_a_row_stored_too_long_before_can_still_have_its_other_columns_changed(
    db: Database,
) -> None:
    """SQLite kept such values until now: only what a change sets is checked."""
    with tenant_scope(CTX):
        with db.session() as session:
            first, second = Note(body="first"), Note(body="second")
            session.add_all([first, second])
            session.flush()
            ids = first.id, second.id
            session.execute(  # a label stored before lengths were held (Core, unchecked)
                insert(NoteTag).values(tenant_id=CTX.tenant_id, note_id=ids[0], label="z" * 60)
            )
        with db.session() as session:
            session.scalars(select(NoteTag)).one().note_id = ids[1]
        with pytest.raises(ValueTooLong), db.session() as session:
            session.scalars(select(NoteTag)).one().label = "w" * 41
        with db.sessions() as session:
            assert session.execute(select(NoteTag.note_id, NoteTag.label)).one() == (
                ids[1],
                "z" * 60,
            )


class _Base(DeclarativeBase):  # a registry of its own: tenantry's models never see it
    pass


class _Price(_Base):
    __tablename__ = "prices"
    id: Mapped[int] = mapped_column(primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    rate: Mapped[float | None] = mapped_column(Numeric(6, 1, asdecimal=False))


def test_more_decimal_places_than_a_numeric_keeps_are_refused_not_rounded() -> None:
    """From a stranger's finance app: ``1.005`` into ``numeric(12,2)`` answered 201 and
    echoed 1.005, while PostgreSQL stored 1.01 (SQLite stored 1.005)."""
    engine = create_engine("sqlite://")
    _Base.metadata.create_all(engine)
    factory = sessionmaker(engine)
    install_lengths(factory)
    with factory.begin() as session:  # at the scale, or with zeros beyond it: kept as is
        session.add_all([_Price(amount=Decimal("1.50")), _Price(amount=Decimal("2.500"))])
        session.add(_Price(amount=Decimal(3), rate=12.5))
        session.add(_Price(amount=Decimal(4), rate=0.1 + 0.2))  # 0.30000000000000004: no place
    for price, said in (
        (_Price(amount=Decimal("1.005")), "prices.amount keeps 2 decimal places"),
        (_Price(amount=Decimal("1"), rate=0.25), "prices.rate keeps 1 decimal place"),
    ):
        with pytest.raises(TooManyDecimalPlaces) as refused, factory.begin() as session:
            session.add(price)
        assert refused.value.message == f"{said}: the value would be rounded"
        assert refused.value.status == 422 and "1.005" not in str(refused.value.details)
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(_Price)) == 4
        row = session.scalars(select(_Price).where(_Price.amount == Decimal(3))).one()
        row.amount = Decimal("3.333")
        with pytest.raises(TooManyDecimalPlaces):
            session.flush()
    engine.dispose()


class _Stock(_Base):
    __tablename__ = "stock"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    price_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("prices.id"))
    weight: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    count: Mapped[int | None] = mapped_column(Integer)
    small: Mapped[int | None] = mapped_column(SmallInteger)
    big: Mapped[int | None] = mapped_column(BigInteger)


def test_numbers_larger_than_their_column_holds_are_refused_on_sqlite_too() -> None:
    """From a stranger's vet clinic: SQLite stored ``12345.67`` in a ``Numeric(5, 2)``
    column and 2**40 in an ``Integer`` one, each refused by PostgreSQL (422 there, 201
    here), and ``12345678901234567.89`` in ``Numeric(10, 2)`` came back as ``…568.00``."""
    engine = create_engine("sqlite://")
    _Base.metadata.create_all(engine)
    factory = sessionmaker(engine)
    install_lengths(factory)
    with factory.begin() as session:  # at each limit: kept
        session.add(_Price(id=1, amount=Decimal("9999999999.99")))
        session.add(_Stock(weight=Decimal("999.99"), count=2**31 - 1, small=-(2**15)))
        session.add(_Stock(weight=Decimal("-999.99"), count=-(2**31), big=2**63 - 1))
        session.add(_Stock(id=2**40, price_id=1, weight=999))  # keys are the database's
    for row, said in (
        (_Price(amount=Decimal("12345678901234567.89")), "prices.amount holds numbers below"),
        (_Stock(weight=Decimal("12345.67")), "stock.weight holds numbers below 1000 (3 digits"),
        (_Stock(weight=1000), "stock.weight holds numbers below 1000"),
        (_Stock(count=2**40), "stock.count holds whole numbers from -2147483648 to 2147483647"),
        (_Stock(small=2**15), "stock.small holds whole numbers from -32768 to 32767"),
        (_Stock(big=2**63), "stock.big holds whole numbers from"),
    ):
        with pytest.raises(NumberTooLarge) as refused, factory.begin() as session:
            session.add(row)
        assert refused.value.message.startswith(said), refused.value.message
        assert refused.value.status == 422 and refused.value.code == "invalid_value"
    with pytest.raises(NumberTooLarge), factory.begin() as session:  # a change, as a new row
        session.scalars(select(_Stock).where(_Stock.id == 2**40)).one().count = 2**31
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(_Stock)) == 3
        assert session.scalar(select(_Stock.count).where(_Stock.id == 2**40)) is None
