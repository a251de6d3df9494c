"""The declarative base and the ``TenantScoped`` mixin for tenant-owned tables."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    Uuid,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from tenantry.ids import new_row_id

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL; INTEGER on SQLite, where only that spelling is a 64-bit rowid alias.
RowId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UuidText(TypeDecorator[uuid.UUID]):
    """A uuid stored as its 36-character text (``'1b4e28ba-2fa1-11d2-883f-0016d3cca427'``),
    as a legacy app wrote it and tenantize keeps it. SQLAlchemy's ``Uuid`` writes 32 hex
    digits on SQLite (and a ``uuid`` on PostgreSQL, which a ``text`` column refuses): a
    lookup by such a key found nothing."""

    impl = String(36)
    cache_ok = True

    @property
    def python_type(self) -> type[uuid.UUID]:
        return uuid.UUID

    def process_bind_param(self, value: uuid.UUID | str | None, dialect: Dialect) -> str | None:
        return None if value is None else str(uuid.UUID(str(value)))

    def process_result_value(self, value: str | None, dialect: Dialect) -> uuid.UUID | None:
        return None if value is None else uuid.UUID(value)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: pass an aware UTC datetime")
        return value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        generic = super().result_processor(dialect, coltype)

        # SQLite stores naive UTC ISO text; one C-level parse beats the generic parser
        # plus a replace() (exports read hundreds of thousands of these).
        def parse(value: str | float | None) -> datetime | None:
            if value is None:
                return None
            if isinstance(value, int | float):  # a Unix time, as many legacy apps stored
                return datetime.fromtimestamp(value, UTC)
            try:
                fast = datetime.fromisoformat(value + "+00:00")
                if fast.tzinfo is not None:  # "2024-05-01+00:00" parses, naive: read on
                    return fast
            except ValueError:  # another spelling (a converted legacy database)
                pass
            found: datetime | None
            try:
                found = datetime.fromisoformat(value)  # a date alone, "Z", an offset…
            except ValueError:
                found = generic(value) if generic else None
            if found is None:
                return None
            return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)

        return parse

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is UTC:  # asyncpg hands back UTC already
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every table tenantry knows: the core's and the apps' alike."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        uuid.UUID: Uuid(),
    }


class TenantScoped:
    """Mixin for a tenant-owned table.

    The primary key is ``(tenant_id, id)``: every key and reference carries the
    tenant, so the database itself refuses a cross-tenant reference, and the
    schema is ready for Citus. Sessions scope every query on these classes to
    the current tenant and stamp ``tenant_id`` on insert (see ``tenantry.scoping``).
    """

    __tenant_scoped__: ClassVar[bool] = True

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        # First in the table, so first in the key a class's own key columns join: a model
        # declaring ``id`` (a legacy uuid) or ``id = None`` and key columns of its own gets
        # ``(tenant_id, …)``, the key tenantize builds and every tenant query's index.
        return mapped_column(
            Uuid(),
            ForeignKey("tenantry_tenants.id", ondelete="CASCADE"),
            primary_key=True,
            sort_order=-1,
        )

    @declared_attr
    def id(cls) -> Mapped[int]:
        return mapped_column(RowId, primary_key=True, default=new_row_id)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)  # the declarative base maps the class here
        table = getattr(cls, "__table__", None)
        if table is not None:
            _widen_references(table)


def _widen_references(table: Any) -> None:
    """Give each column that references another tenant row (``(tenant_id, x) → (tenant_id,
    id)``) the row ids' type.

    ``x: Mapped[int]`` is an ``INTEGER``: 32 bits on PostgreSQL, where the 53-bit row ids
    (ADR 0002) overflow it on the first insert that references one. SQLite's INTEGER
    holds them, so the mistake would show only in production.
    """
    for constraint in table.foreign_key_constraints:
        if "tenant_id" not in constraint.column_keys:
            continue
        for element in constraint.elements:
            column = element.parent
            widen = isinstance(column.type, Integer) and not isinstance(column.type, BigInteger)
            if column.key != "tenant_id" and element.target_fullname.endswith(".id") and widen:
                column.type = RowId


def tenant_foreign_key(
    column: str,
    parent_table: str,
    *,
    ondelete: str | None = "CASCADE",
    onupdate: str | None = None,
) -> ForeignKeyConstraint:
    """A foreign key from ``(tenant_id, column)`` to ``parent_table (tenant_id, id)``.

    Use it in ``__table_args__`` for every reference between tenant tables
    (``onupdate``: a key ``tenantize`` kept with its legacy ``ON UPDATE`` action).

    ``SET NULL`` and ``SET DEFAULT`` are refused: on a key that includes ``tenant_id`` they
    would set the tenant too, and the parent's delete then fails on ``NOT NULL``. For an
    optional reference, give ``ondelete=None`` and clear it before deleting the parent.
    """
    for action in (ondelete, onupdate):
        if action is not None and action.strip().upper().startswith("SET "):
            raise ValueError(
                f"tenant_foreign_key({column!r}, {parent_table!r}): {action} would set "
                "tenant_id too (the key is (tenant_id, column)); use ondelete=None and clear "
                f"{column} before deleting the {parent_table} row, or CASCADE"
            )
    return ForeignKeyConstraint(
        ["tenant_id", column],
        [f"{parent_table}.tenant_id", f"{parent_table}.id"],
        ondelete=ondelete,
        onupdate=onupdate,
    )


def is_tenant_scoped(cls: type) -> bool:
    return bool(getattr(cls, "__tenant_scoped__", False))
