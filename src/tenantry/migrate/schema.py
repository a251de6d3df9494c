"""What the database holds: tables, columns, keys, foreign keys and indexes, on any dialect."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, inspect
from sqlalchemy.exc import SAWarning

from tenantry.migrate.identifiers import quoted as _quote
from tenantry.sqlite import unique_constraints as sqlite_unique_constraints

# Column names apps give their password hashes, most specific first.
PASSWORD_COLUMNS = (
    "password_hash",
    "hashed_password",
    "password_digest",
    "encrypted_password",
    "passwd_hash",
    "pass_hash",
    "pwd_hash",
    "pw_hash",
    "passwordhash",
    "password",
    "passwd",
    "pwd",
    "pw",
)

# Tables tenantize never treats as application data.
INTERNAL_PREFIXES = ("tenantry_", "sqlite_", "alembic_version")


@dataclass(frozen=True, slots=True)
class ForeignKey:
    columns: tuple[str, ...]
    table: str
    referred: tuple[str, ...]
    name: str | None = None
    ondelete: str | None = None
    onupdate: str | None = None


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool
    method: str = "btree"  # PostgreSQL's access method: gin, gist, … cannot lead with tenant_id
    # Each column's order other than the default, as SQL says it (``(("created_at",
    # "DESC"),)``): the tenant-leading twin is built in the same order.
    sorting: tuple[tuple[str, str], ...] = ()
    where: str = ""  # a partial index's predicate, as the database prints it


@dataclass(slots=True)
class TableInfo:
    name: str
    columns: list[str]
    primary_key: list[str]
    pk_name: str | None = None
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    not_null: frozenset[str] = frozenset()
    expression_indexes: list[str] = field(default_factory=list)  # kept as they are

    @property
    def key(self) -> str | None:
        """The single-column primary key, or ``None``."""
        return self.primary_key[0] if len(self.primary_key) == 1 else None


def _plain(name: str) -> str:
    return name.lower().replace("_", "")


def named_column(columns: Iterable[str], names: Iterable[str]) -> str | None:
    """The first of ``names`` (in order of preference) that is one of ``columns`` in any
    case, with or without underscores (``EmailAddress`` is ``email_address``), as
    ``columns`` spell it; ``None`` if none is. Also finds tables among table names."""
    plain = {_plain(c): c for c in columns}
    return next((plain[_plain(n)] for n in names if _plain(n) in plain), None)


def password_column(columns: list[str]) -> str | None:
    """The column of a users table that holds password hashes, by its name, or ``None``."""
    return named_column(columns, PASSWORD_COLUMNS)


def app_tables(conn: Connection) -> list[str]:
    """Every table of the default schema except tenantry's own and the engine's."""
    names = inspect(conn).get_table_names()
    return sorted(n for n in names if not n.startswith(INTERNAL_PREFIXES))


def has_table(conn: Connection, name: str) -> bool:
    return bool(inspect(conn).has_table(name))


def table_info(conn: Connection, name: str) -> TableInfo:
    """Describe ``name`` through SQLAlchemy's inspector (fresh: no cache between calls)."""
    insp = inspect(conn)
    pk = insp.get_pk_constraint(name)
    fks = [
        ForeignKey(
            tuple(fk["constrained_columns"]),
            fk["referred_table"],
            tuple(fk["referred_columns"]),
            fk.get("name"),
            (fk.get("options") or {}).get("ondelete"),
            (fk.get("options") or {}).get("onupdate"),
        )
        for fk in insp.get_foreign_keys(name)
    ]
    if conn.dialect.name == "sqlite":
        actions = _sqlite_actions(conn, name)
        fks = [_with_sqlite_actions(fk, actions) for fk in fks]
    with warnings.catch_warnings():
        # SQLite's inspector skips an index on an expression with a warning: the rebuild
        # keeps it all the same (it recreates every index from its SQL).
        warnings.filterwarnings("ignore", _SKIPPED_EXPRESSION_INDEX, SAWarning)
        reflected = insp.get_indexes(name)
        unique_constraints = insp.get_unique_constraints(name)
    if conn.dialect.name == "sqlite":  # a column's own UNIQUE too, which it leaves out
        listed = {tuple(uc["column_names"]) for uc in unique_constraints}
        unique_constraints += [
            {"name": None, "column_names": list(cols)}
            for cols in sqlite_unique_constraints(conn, name)
            if cols not in listed
        ]
    indexes = [
        Index(
            str(ix["name"]),
            tuple(str(c) for c in ix["column_names"] if c),
            bool(ix["unique"]),
            str((ix.get("dialect_options") or {}).get("postgresql_using") or "btree"),
            _sqlite_sorting(conn, str(ix["name"]))
            if conn.dialect.name == "sqlite"
            else _sorting(ix.get("column_sorting") or {}),
            _predicate(ix.get("dialect_options") or {}),
        )
        for ix in reflected
        if ix.get("name") and all(ix["column_names"])
    ]
    indexes += [
        Index(
            str(uc["name"] or f"uq_{name}_{'_'.join(uc['column_names'])}"),
            tuple(uc["column_names"]),
            True,
        )
        for uc in unique_constraints
        if not any(ix.columns == tuple(uc["column_names"]) for ix in indexes)
    ]
    expressions = (
        _sqlite_expression_indexes(conn, name)
        if conn.dialect.name == "sqlite"
        else [str(ix["name"]) for ix in reflected if ix.get("name") and not all(ix["column_names"])]
    )
    columns = insp.get_columns(name)
    return TableInfo(
        name=name,
        columns=[str(c["name"]) for c in columns],
        not_null=frozenset(str(c["name"]) for c in columns if not c["nullable"]),
        primary_key=list(pk.get("constrained_columns") or []),
        pk_name=pk.get("name"),
        foreign_keys=fks,
        indexes=indexes,
        expression_indexes=expressions,
    )


_SKIPPED_EXPRESSION_INDEX = "Skipped unsupported reflection of expression-based index"


def _sorting(reflected: Mapping[str, Sequence[str]]) -> tuple[tuple[str, str], ...]:
    """PostgreSQL's ``column_sorting`` (``{"created_at": ("desc", "nulls_last")}``) as SQL."""
    return tuple(
        (str(column), " ".join(word.replace("_", " ").upper() for word in words))
        for column, words in reflected.items()
        if words
    )


def _sqlite_sorting(conn: Connection, index: str) -> tuple[tuple[str, str], ...]:
    """The descending columns of a SQLite index (``PRAGMA index_xinfo``: SQLAlchemy's
    inspector does not say)."""
    rows = conn.exec_driver_sql(f"PRAGMA index_xinfo({_quote(index)})")
    return tuple((str(name), "DESC") for _seq, _cid, name, desc, _coll, key in rows if key and desc)


def _predicate(options: Mapping[str, Any]) -> str:
    """A partial index's ``WHERE`` (PostgreSQL's and SQLite's reflection), or ``""``."""
    where = options.get("postgresql_where")
    if where is None:
        where = options.get("sqlite_where")
    return "" if where is None else str(where)


def _sqlite_expression_indexes(conn: Connection, name: str) -> list[str]:
    """The indexes of ``name`` on an expression (``lower(title)``), which SQLAlchemy's
    SQLite inspector leaves out: ``PRAGMA index_info`` names no column for those."""
    indexes = [str(row[1]) for row in conn.exec_driver_sql(f"PRAGMA index_list({_quote(name)})")]
    return sorted(
        ix
        for ix in indexes
        if any(row[2] is None for row in conn.exec_driver_sql(f"PRAGMA index_info({_quote(ix)})"))
    )


def _sqlite_actions(
    conn: Connection, name: str
) -> dict[tuple[str, tuple[str, ...]], tuple[str, str]]:
    """ON DELETE / ON UPDATE of each foreign key, from ``PRAGMA foreign_key_list``.

    SQLAlchemy's SQLite inspector drops the actions of inline ``REFERENCES … ON DELETE``
    clauses; the PRAGMA has them all.
    """
    quoted = _quote(name)
    grouped: dict[int, tuple[str, list[str], str, str]] = {}
    for fk_id, _seq, table, column, _to, on_update, on_delete, _match in conn.exec_driver_sql(
        f"PRAGMA foreign_key_list({quoted})"
    ):
        entry = grouped.setdefault(int(fk_id), (str(table), [], str(on_update), str(on_delete)))
        entry[1].append(str(column))
    return {(t, tuple(cols)): (upd, dele) for t, cols, upd, dele in grouped.values()}


def _with_sqlite_actions(
    fk: ForeignKey, actions: dict[tuple[str, tuple[str, ...]], tuple[str, str]]
) -> ForeignKey:
    found = actions.get((fk.table, fk.columns))
    if found is None:
        return fk
    on_update, on_delete = (None if a.upper() == "NO ACTION" else a.upper() for a in found)
    return ForeignKey(fk.columns, fk.table, fk.referred, fk.name, on_delete, on_update)
