"""What the database holds: tables, columns, keys, foreign keys and indexes, on any dialect."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, inspect

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


@dataclass(slots=True)
class TableInfo:
    name: str
    columns: list[str]
    primary_key: list[str]
    pk_name: str | None = None
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)

    @property
    def key(self) -> str | None:
        """The single-column primary key, or ``None``."""
        return self.primary_key[0] if len(self.primary_key) == 1 else None


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
    indexes = [
        Index(str(ix["name"]), tuple(str(c) for c in ix["column_names"] if c), bool(ix["unique"]))
        for ix in insp.get_indexes(name)
        if ix.get("name") and all(ix["column_names"])
    ]
    indexes += [
        Index(
            str(uc["name"] or f"uq_{name}_{'_'.join(uc['column_names'])}"),
            tuple(uc["column_names"]),
            True,
        )
        for uc in insp.get_unique_constraints(name)
        if not any(ix.columns == tuple(uc["column_names"]) for ix in indexes)
    ]
    return TableInfo(
        name=name,
        columns=[str(c["name"]) for c in insp.get_columns(name)],
        primary_key=list(pk.get("constrained_columns") or []),
        pk_name=pk.get("name"),
        foreign_keys=fks,
        indexes=indexes,
    )
