"""Rows in every tenant table of one tenant, made from the models alone: what the attack
attacks. A model added tomorrow is seeded without a line of test code."""

from __future__ import annotations

import enum
import itertools
import re
import secrets
import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Column, UniqueConstraint, inspect, select

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.export import tenant_mappers
from tenantry.models import Base, Membership


def python_type(column: Any) -> Any:
    """The Python type of ``column``'s values, or None when its type does not say."""
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def stored(column: Any) -> bool:
    """Whether a row's value for ``column`` is written (not a ``column_property``'s
    expression, not a column the database computes)."""
    return isinstance(column, Column) and column.computed is None


# Values of columns under a unique constraint (a ticket number unique per tenant): every
# seeded row gets the next one, where a fixed 1 made the second row of a tenant collide.
_serial = itertools.count(1)


def _keys(table: Any) -> list[set[str]]:
    """The column groups of ``table`` that a unique constraint or index covers."""
    groups: list[Any] = [c.columns for c in table.constraints if isinstance(c, UniqueConstraint)]
    groups += [i.columns for i in table.indexes if i.unique]
    groups += [[c] for c in table.c if c.unique]
    return [{col.key for col in cols} for cols in groups]


def _unique_columns(table: Any) -> set[str]:
    """The columns of ``table`` that a unique constraint or index covers."""
    return set().union(*_keys(table))


def _one_per_value(column: Any) -> bool:
    """Whether ``column`` alone (beside ``tenant_id``) is a key of its table: one row per
    member for a reference to the members (``settings(tenant_id, user_id)``)."""
    primary = {c.key for c in column.table.primary_key.columns}
    return any(key - {"tenant_id"} == {column.key} for key in [primary, *_keys(column.table)])


def _column_value(
    column: Any,
    marker: str,
    parents: Mapping[str, Any],
    shared: Callable[[Any], Any],
    member: Callable[[Any], Any],
    *,
    unique: bool,
    tenant_tables: Collection[str] = (),
    checks: Collection[str] = (),
) -> Any:
    for fk in column.foreign_keys:
        table = fk.column.table.name
        if table in parents:  # the column of the parent row it names (a key of any shape)
            parent = parents[table]
            return getattr(parent, inspect(parent).mapper.get_property_by_column(fk.column).key)
        if table == "tenantry_users":
            return member(column)
        if table in tenant_tables:  # a row not made yet (a table referring to itself)
            return None
        return shared(fk)
    allowed = _allowed_values(column, checks)
    if allowed:
        return allowed[0]
    labels = getattr(column.type, "enums", None)
    if labels and getattr(column.type, "enum_class", None) is None:
        return labels[0]  # Enum("draft", "sent"): its labels, no Python enum
    kind = python_type(column)
    if kind is str:
        length = getattr(column.type, "length", None) or 200
        token = secrets.token_hex(3)  # unique per row (unique constraints)
        if "email" in column.key.lower():
            return f"{marker}-{token}@example.com"[-length:]
        # The marker in it, when it fits with the token; the token always.
        text = f"{marker}-{token}" if length >= len(marker) + 7 else f"{token}{marker}"
        return text[:length]
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return next(iter(kind))  # an Enum column: a NOT NULL one was left empty
    n = next(_serial) if unique else 0  # ordered kinds step on under a unique constraint
    values: dict[type, Any] = {
        bool: False,
        int: 1 + n,
        float: 1.0 + n,
        Decimal: Decimal(1 + n),
        date: date(2024, 1, 15) + timedelta(days=n),
        datetime: datetime(2024, 1, 15, 12, tzinfo=UTC) + timedelta(seconds=n),
        time: time(12),
        timedelta: timedelta(hours=1),
        uuid.UUID: uuid.uuid4(),
        bytes: marker.encode(),
        dict: {},
        list: [],
    }
    return values.get(kind)


# ``status IN ('draft', 'sent')`` in a CHECK constraint, or as PostgreSQL prints it back,
# ``((status)::text = ANY ((ARRAY['draft'::character varying, …])::text[]))``: the values
# a column may take.
_CHECK_IN = re.compile(
    r"^[\s(]*\"?(\w+)\"?\)?(?:::[\w ]+?)?\s*(?:IN\s*\(|=\s*ANY\s*\(+\s*ARRAY\s*\[)([^\])]*)",
    re.IGNORECASE,
)


def _allowed_values(column: Any, checks: Collection[str] = ()) -> list[str]:
    """The values a CHECK constraint of the form ``column IN ('a', 'b')`` allows: one the
    model declares, or one of ``checks`` (the database's, read back: a converted table
    keeps its legacy CHECKs, which models seldom repeat)."""
    declared = [str(c.sqltext) for c in column.table.constraints if isinstance(c, CheckConstraint)]
    for text in (*declared, *checks):
        found = _CHECK_IN.match(text)
        if found and found.group(1) == column.name:
            return re.findall(r"'([^']*)'", found.group(2))
    return []


def _database_checks(session: Any, table: str) -> list[str]:
    """The CHECK constraints the database holds on ``table`` (their SQL text)."""
    try:
        found = inspect(session.connection()).get_check_constraints(table)
    except NotImplementedError:
        return []
    return [str(c["sqltext"]) for c in found]


class _EveryMemberHasOne(Exception):
    """A table keyed by member (``settings(tenant_id, user_id)``) has a row for each."""


def seed_every_table(
    db: Database, ctx: TenantContext, *, marker: str, skip_full: bool = False
) -> None:
    """One row in every tenant table for ``ctx``'s tenant, parents first, strings = ``marker``.

    Generic on purpose: a model added tomorrow is seeded, and so attacked,
    without a line of test code. A row the database or the model refuses fails with
    the table's name and the reason. A reference to a member that a key or unique
    constraint covers (one row per member) takes a member without a row yet; with
    ``skip_full``, a table where every member has one is left as it is.
    """
    parents: dict[str, Any] = {}
    by_table = {table_name(m): m for m in tenant_mappers()}
    ordered = [t for t in Base.metadata.sorted_tables if t.name in by_table]
    with tenant_scope(ctx), db.session() as session:

        def shared(fk: Any) -> Any:
            """A row of a shared table (reference data every tenant reads), or, if it
            has none, nothing: a required reference then says what to add."""
            found = session.scalar(select(fk.column).limit(1))
            if found is None and not fk.parent.nullable:
                raise AssertionError(
                    f"{fk.parent.table.name}.{fk.parent.key} refers to {fk.column.table.name}, "
                    "which has no rows: add one (reference data) before the attack"
                )
            return found

        def member(column: Any) -> Any:
            """``ctx``'s user, or for one row per member, a member without a row yet."""
            if not _one_per_value(column):
                return ctx.user_id
            held = by_table[column.table.name]
            ref = held.get_property_by_column(column).class_attribute
            taken = set(session.scalars(select(ref).where(held.class_.tenant_id == ctx.tenant_id)))
            members = session.scalars(
                select(Membership.user_id)
                .where(Membership.tenant_id == ctx.tenant_id)
                .order_by(Membership.user_id != ctx.user_id, Membership.user_id)
            )
            free = next((m for m in members if m not in taken), None)
            if free is None:
                raise _EveryMemberHasOne
            return free

        for table in ordered:
            mapper = by_table[table.name]
            unique = _unique_columns(table)
            checks = _database_checks(session, table.name)
            # Set here too, not only by the scoping: the attack grows the victim's rows
            # while the scoping may be switched off (``during=scoping_switched_off``).
            values: dict[str, Any] = {"tenant_id": ctx.tenant_id}
            try:
                for prop in mapper.column_attrs:
                    column = prop.columns[0]
                    if column.key == "tenant_id" or not stored(column):
                        continue
                    if column.key == "id" and (column.default or column.server_default):
                        continue  # the model's own ids
                    value = _column_value(
                        column,
                        marker,
                        parents,
                        shared,
                        member,
                        unique=column.key in unique or column.primary_key,
                        tenant_tables=by_table,
                        checks=checks,
                    )
                    if value is not None:
                        values[prop.key] = value
            except _EveryMemberHasOne:
                if skip_full:  # its children refer to a row it has
                    parents[table.name] = session.scalars(select(mapper.class_).limit(1)).first()
                    continue
                raise AssertionError(
                    f"the attack could not put a row into {table.name}: it holds one row per "
                    "member, and every member of the tenant has one"
                ) from None
            try:
                row = mapper.class_(**values)
                session.add(row)
                session.flush()
            except Exception as exc:
                raise AssertionError(
                    f"the attack could not put a row into {table.name} ({exc.__class__.__name__}:"
                    f" {str(exc).splitlines()[0]}); it fills each column from its type, a "
                    "CHECK of the form `col IN (...)` (the model's or the database's) and an "
                    "Enum, never from a default: say the values a refused column takes in "
                    "one of those on the model"
                ) from exc
            parents[table.name] = row


def table_name(mapper: Any) -> str:
    return str(mapper.local_table.name)
