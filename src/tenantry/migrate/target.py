"""Target mode: a converted table becomes the target app's own table, column by column.

``target = "meterbook"`` in the mapping names an installed app (entry point group
``tenantry.models``); each owned table whose name (or ``into``) is one of the app's
tables is rebuilt as that table after verification: the app's DDL, every row copied
with its tenant and key, values converted to the target column's type (dates to UTC
timestamps, numbers times ``scale``, defaults for NULLs). The dry run converts every
row first and reports the ones that cannot be converted; nothing is dropped unless
the mapping says so (``drop``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from importlib.metadata import entry_points
from typing import Any

from sqlalchemy import Column, Connection, Table, insert

from tenantry.migrate.errors import MappingError
from tenantry.migrate.mapping import ColumnRule, Mapping, TableRule
from tenantry.migrate.schema import TableInfo

BATCH = 5_000
ENTRY_POINTS = "tenantry.models"


class Unconvertible(ValueError):
    """A legacy value the target column cannot take."""


def target_tables(app: str) -> dict[str, Table]:
    """The tables of an installed app, by name, from its models' module.

    Raises:
        MappingError: no installed app of that name.
    """
    from tenantry.models import Base

    found = [p for p in entry_points(group=ENTRY_POINTS) if p.name == app]
    if not found:
        known = ", ".join(sorted(p.name for p in entry_points(group=ENTRY_POINTS))) or "none"
        raise MappingError(f"target = {app!r}: no such app is installed (installed: {known})")
    module = found[0].load()
    return {
        mapper.local_table.name: mapper.local_table
        for mapper in Base.registry.mappers
        if mapper.class_.__module__ == module.__name__ and isinstance(mapper.local_table, Table)
    }


@dataclass(slots=True)
class Shape:
    """How one legacy table becomes a target table (JSON-safe: kept with the plan)."""

    table: str
    into: str
    key: list[str]
    columns: list[dict[str, Any]] = field(default_factory=list)  # ColumnRule as dicts

    def rules(self) -> list[ColumnRule]:
        return [ColumnRule(**c) for c in self.columns]


def shapes(mapping: Mapping, infos: dict[str, TableInfo]) -> dict[str, Shape]:
    """Every owned table that becomes a target table, with each target column's source.

    Raises:
        MappingError: a column without a source, a source that does not exist, or a
            legacy column neither carried over nor listed in ``drop``.
    """
    if mapping.target is None:
        return {}
    tables = target_tables(mapping.target)
    result: dict[str, Shape] = {}
    for rule in mapping.owned:
        into = rule.into or rule.name
        if into not in tables:
            if rule.into or rule.columns:
                raise MappingError(
                    f"[tables.{rule.name}]: {mapping.target} has no table {into!r} "
                    f"(it has {', '.join(sorted(tables))})"
                )
            continue
        result[rule.name] = _shape(rule, tables[into], infos[rule.name], mapping.target)
    return result


def _shape(rule: TableRule, table: Table, info: TableInfo, app: str) -> Shape:
    where = f"[tables.{rule.name}]"
    legacy = set(info.columns)
    explicit = {c.target: c for c in rule.columns}
    unknown = sorted(set(explicit) - {c.name for c in table.columns})
    if unknown:
        raise MappingError(f"{where}: {app}'s {table.name} has no column(s) {', '.join(unknown)}")
    chosen: list[ColumnRule] = []
    unmapped: list[str] = []
    for column in table.columns:
        if column.name == "tenant_id":
            continue
        spec = explicit.get(column.name)
        if spec is None and column.name in legacy:
            spec = ColumnRule(column.name, column.name)
        if spec is None:
            if column.default is None and not column.nullable:
                unmapped.append(column.name)
                continue
            spec = ColumnRule(column.name)  # the model's default, or NULL
        if spec.source is not None and spec.source not in legacy:
            raise MappingError(f"{where} {column.name}: {rule.name} has no column {spec.source!r}")
        chosen.append(spec)
    if unmapped:
        raise MappingError(
            f"{where}: {app}'s {table.name} needs a value for {', '.join(unmapped)}; "
            f"map each in [tables.{rule.name}.columns]"
        )
    used = {c.source for c in chosen if c.source}
    left = sorted(legacy - used - set(rule.drop))
    if left:
        raise MappingError(
            f"{where}: legacy column(s) {', '.join(left)} would not reach {app}'s {table.name}; "
            f"map them in [tables.{rule.name}.columns] or list them in drop = [...]"
        )
    return Shape(rule.name, table.name, info.primary_key, [asdict(c) for c in chosen])


# -- converting values ---------------------------------------------------------------------


def converter(column: Column[Any], spec: ColumnRule, now: datetime) -> Callable[[Any], Any]:
    """A function from a legacy value to the value ``column`` stores."""
    kind = _python_type(column)
    default = _default(column, spec, now, kind)

    def convert(value: Any) -> Any:
        if spec.has_value:
            value = spec.value
        if value is None or (isinstance(value, str) and not value.strip() and kind is not str):
            if default is not _MISSING:
                return default
            if column.nullable:
                return None
            raise Unconvertible(f"{column.name}: no value, and the column needs one")
        return _to(kind, value, spec.scale, column)

    return convert


_MISSING = object()


def _python_type(column: Column[Any]) -> type:
    try:
        return column.type.python_type
    except NotImplementedError:
        return str


def _default(column: Column[Any], spec: ColumnRule, now: datetime, kind: type) -> Any:
    if spec.has_default:
        if spec.default == "now" and kind in (datetime, date):
            return now if kind is datetime else now.date()
        return _to(kind, spec.default, None, column)
    model = column.default
    if model is None or (spec.source is not None and column.nullable):
        return _MISSING
    arg = getattr(model, "arg", None)
    if getattr(model, "is_callable", False) and callable(arg):
        return arg(None)
    if getattr(model, "is_scalar", False):
        return arg
    return _MISSING


def _to(kind: type, value: Any, scale: int | None, column: Column[Any]) -> Any:
    try:
        if kind is datetime:
            return _datetime(value)
        if kind is date:
            found = _datetime(value)
            return found.date()
        if kind is bool:
            return _bool(value)
        if kind is int:
            number = _decimal(value) * (scale or 1)
            return int(number.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        if kind in (float, Decimal):
            number = _decimal(value) * (scale or 1)
            return float(number) if kind is float else number
        text = value if isinstance(value, str) else str(value)
        length = getattr(column.type, "length", None)
        if length is not None and len(text) > length:
            raise Unconvertible(f"{column.name}: {len(text)} characters, the column takes {length}")
        return text
    except Unconvertible:
        raise
    except (ValueError, TypeError, InvalidOperation, OverflowError):
        raise Unconvertible(f"{column.name}: {_show(value)} is not a {kind.__name__}") from None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.strip())
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise TypeError(value)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in {"1", "true", "t", "yes", "y"}:
        return True
    if text in {"0", "false", "f", "no", "n"}:
        return False
    raise ValueError(value)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, float):
        return Decimal(repr(value))  # 12.34 stays 12.34, not its binary neighbour
    return Decimal(str(value).strip())


# -- reading legacy rows ----------------------------------------------------------------------


@dataclass(slots=True)
class Converted:
    rows: list[dict[str, Any]]
    failures: list[str]  # "id 7: read_at: 'yesterday' is not a datetime"
    nulled_users: int  # user references to no user, stored as NULL


def converted_batches(
    conn: Connection,
    shape: Shape,
    table: Table,
    user_ids: set[int],
    *,
    source: str,
    with_tenant: bool,
    now: datetime,
) -> Iterator[Converted]:
    """Read ``source`` (the legacy table, or its converted form) in key order and convert."""
    q = conn.dialect.identifier_preparer.quote
    rules = shape.rules()
    columns = {c.name: c for c in table.columns}
    sources = sorted({r.source for r in rules if r.source} | set(shape.key))
    convert = {r.target: converter(columns[r.target], r, now) for r in rules}
    to_users = {
        r.target
        for r in rules
        if any(fk.column.table.name == "tenantry_users" for fk in columns[r.target].foreign_keys)
    }
    select = ", ".join(q(c) for c in (["tenant_id"] if with_tenant else []) + sources)
    order = ", ".join(q(c) for c in shape.key)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"SELECT {select} FROM {q(source)} ORDER BY {order}")
        while batch := cursor.fetchmany(BATCH):
            out = Converted([], [], 0)
            for raw in batch:
                values = list(raw)
                tenant = uuid.UUID(str(values.pop(0))) if with_tenant else None
                legacy = dict(zip(sources, values, strict=True))
                row: dict[str, Any] = {"tenant_id": tenant} if with_tenant else {}
                try:
                    for rule in rules:
                        row[rule.target] = convert[rule.target](
                            legacy[rule.source] if rule.source else None
                        )
                except Unconvertible as exc:
                    key = ", ".join(str(legacy[k]) for k in shape.key)
                    out.failures.append(f"{key}: {exc}")
                    continue
                for name in to_users:
                    if row[name] is not None and row[name] not in user_ids:
                        row[name] = None
                        out.nulled_users += 1
                out.rows.append(row)
            yield out
    finally:
        cursor.close()


def reshape(conn: Connection, shape: Shape, table: Table, user_ids: set[int]) -> int:
    """Inside one transaction: the converted table becomes ``table``; returns its rows.

    The converted table is renamed aside (its indexes too: their names are the
    schema's), the target table created with the app's DDL, every row copied and
    converted, the keys compared both ways, and the old table dropped.
    """
    from tenantry.migrate.errors import TenantizeError

    q = conn.dialect.identifier_preparer.quote
    aside = f"{shape.table}__legacy"
    conn.exec_driver_sql(f"ALTER TABLE {q(shape.table)} RENAME TO {q(aside)}")
    _move_indexes_aside(conn, aside)
    table.create(conn)
    now = datetime.now(UTC)
    copied = 0
    for batch in converted_batches(
        conn, shape, table, user_ids, source=aside, with_tenant=True, now=now
    ):
        if batch.failures:
            raise TenantizeError(
                f"{shape.table}: {len(batch.failures)} row(s) cannot be converted "
                f"(e.g. {batch.failures[0]}); run the dry run"
            )
        if batch.rows:
            conn.execute(insert(table), batch.rows)
        copied += len(batch.rows)
    keys = ", ".join(["tenant_id", *(q(k) for k in shape.key)])
    pairs = ((aside, table.name), (table.name, aside))
    for left, right in pairs:
        differ = conn.exec_driver_sql(
            f"SELECT count(*) FROM (SELECT {keys} FROM {q(left)} EXCEPT "
            f"SELECT {keys} FROM {q(right)}) d"
        ).scalar()
        if differ:
            raise TenantizeError(f"{shape.table}: {differ} row(s) differ after reshaping")
    conn.exec_driver_sql(f"DROP TABLE {q(aside)}")
    return copied


def _move_indexes_aside(conn: Connection, table: str) -> None:
    """Free the index names the target table will use (they are unique per schema)."""
    if conn.dialect.name == "sqlite":
        names = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL",
            (table,),
        ).scalars()
        for name in list(names):
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        return
    names = conn.exec_driver_sql(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = %(t)s",
        {"t": table},
    ).scalars()
    for number, name in enumerate(list(names)):
        conn.exec_driver_sql(f'ALTER INDEX "{name}" RENAME TO "{table[:40]}__ix{number}"')
