"""What a live database's schema says about tenancy: facts for the doctor, read-only.

The live database is the truth, not the Python models: a database converted by
``tenantize`` or migrated by hand is judged by what it actually holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, inspect, text

from tenantry.rls.policy import TENANT_COLUMN, is_control_plane
from tenantry.sqlite import unique_constraints

IGNORED_TABLES = frozenset({"alembic_version"})


@dataclass(frozen=True)
class ForeignKeyFacts:
    name: str | None
    columns: tuple[str, ...]
    referred_table: str
    referred_columns: tuple[str, ...]


@dataclass(frozen=True)
class PolicyFacts:
    name: str
    permissive: bool
    roles: tuple[str, ...]
    command: str  # ALL, SELECT, INSERT, UPDATE, DELETE
    using: str | None
    check: str | None


@dataclass(frozen=True)
class TableFacts:
    name: str
    columns: Mapping[str, bool]  # column name -> nullable
    primary_key: tuple[str, ...]
    unique: tuple[tuple[str, ...], ...]  # unique constraints and unique indexes
    indexes: tuple[tuple[str, ...], ...]  # every index, unique or not
    foreign_keys: tuple[ForeignKeyFacts, ...]
    rls_enabled: bool | None = None  # None: the backend has no RLS
    rls_forced: bool | None = None
    policies: tuple[PolicyFacts, ...] = ()
    types: Mapping[str, str] = field(default_factory=dict)  # column name -> type, lower case

    @property
    def is_tenant_table(self) -> bool:
        """Has a ``tenant_id`` column and is not a ``tenantry_*`` control-plane table."""
        return TENANT_COLUMN in self.columns and not is_control_plane(self.name)


@dataclass(frozen=True)
class RoleFacts:
    name: str
    superuser: bool
    bypassrls: bool
    owns_database: bool
    owns: tuple[str, ...]  # tables and views it owns, directly or through membership
    can_truncate: tuple[str, ...]
    # (table, column) of columns named like a credential (password, token, secret, api
    # key) that it may SELECT, in tables and views of the schema.
    reads_credentials: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SchemaFacts:
    backend: str
    schema: str | None
    tables: tuple[TableFacts, ...]
    views_without_invoker: tuple[str, ...] = ()
    definer_functions: tuple[str, ...] = ()  # SECURITY DEFINER, executable by the app role
    role: RoleFacts | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def tenant_tables(self) -> tuple[TableFacts, ...]:
        return tuple(t for t in self.tables if t.is_tenant_table)


def column_difference(name: str, present: Iterable[str], expected: Iterable[str]) -> str | None:
    """A sentence naming the columns missing from and foreign to ``name``, or ``None``."""
    have, want = set(present), set(expected)
    missing, extra = sorted(want - have), sorted(have - want)
    if not missing and not extra:
        return None
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if extra:
        parts.append(f"not the app's: {', '.join(extra)}")
    return f"table {name!r} does not match the app's columns ({'; '.join(parts)})"


class UnknownRole(LookupError):
    """The app role named for the checks does not exist."""


def collect(
    connection: Connection, *, schema: str | None = None, app_role: str | None = None
) -> SchemaFacts:
    """Read the schema's facts through ``connection``; PostgreSQL adds RLS, views and roles.

    Raises:
        UnknownRole: ``app_role`` names no role (PostgreSQL).
    """
    insp = inspect(connection)
    schema = schema or insp.default_schema_name
    backend = connection.dialect.name
    rls: dict[str, tuple[bool, bool]] = {}
    policies: dict[str, list[PolicyFacts]] = {}
    if backend == "postgresql":
        rls = _rls_flags(connection, schema or "public")
        policies = _policies(connection, schema or "public")
    tables = []
    for name in sorted(insp.get_table_names(schema=schema)):
        if name in IGNORED_TABLES:
            continue
        indexes = insp.get_indexes(name, schema=schema)
        uniques = [
            tuple(u["column_names"]) for u in insp.get_unique_constraints(name, schema=schema)
        ]
        uniques += [tuple(c for c in i["column_names"] if c) for i in indexes if i["unique"]]
        if backend == "sqlite":
            uniques += unique_constraints(connection, name)
        flags = rls.get(name)
        columns = insp.get_columns(name, schema=schema)
        tables.append(
            TableFacts(
                name=name,
                columns={c["name"]: bool(c["nullable"]) for c in columns},
                types={c["name"]: str(c["type"]).lower() for c in columns},
                primary_key=tuple(
                    insp.get_pk_constraint(name, schema=schema)["constrained_columns"]
                ),
                unique=tuple(dict.fromkeys(uniques)),
                indexes=tuple(tuple(c for c in i["column_names"] if c) for i in indexes),
                foreign_keys=tuple(
                    ForeignKeyFacts(
                        fk["name"],
                        tuple(fk["constrained_columns"]),
                        fk["referred_table"],
                        tuple(fk["referred_columns"]),
                    )
                    for fk in insp.get_foreign_keys(name, schema=schema)
                ),
                rls_enabled=flags[0] if flags else None,
                rls_forced=flags[1] if flags else None,
                policies=tuple(policies.get(name, ())),
            )
        )
    if backend != "postgresql":
        notes = ("no row-level security or roles on this backend: those checks were skipped",)
        return SchemaFacts(backend, schema, tuple(tables), notes=notes)
    sch = schema or "public"
    return SchemaFacts(
        backend,
        schema,
        tuple(tables),
        views_without_invoker=_views_without_invoker(connection, sch),
        definer_functions=_definer_functions(connection, app_role or "public"),
        role=_role(connection, app_role, sch) if app_role else None,
    )


_RELS = "c.relnamespace = to_regnamespace(:schema)"


def _rls_flags(conn: Connection, schema: str) -> dict[str, tuple[bool, bool]]:
    rows = conn.execute(
        text(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c"
            f" WHERE {_RELS} AND c.relkind IN ('r', 'p')"
        ),
        {"schema": schema},
    )
    return {name: (bool(enabled), bool(forced)) for name, enabled, forced in rows}


def _policies(conn: Connection, schema: str) -> dict[str, list[PolicyFacts]]:
    rows = conn.execute(
        text(
            "SELECT tablename, policyname, permissive, roles, cmd, qual, with_check"
            " FROM pg_policies WHERE schemaname = :schema ORDER BY tablename, policyname"
        ),
        {"schema": schema},
    )
    found: dict[str, list[PolicyFacts]] = {}
    for table, name, permissive, roles, cmd, qual, check in rows:
        found.setdefault(table, []).append(
            PolicyFacts(name, permissive == "PERMISSIVE", tuple(roles), cmd, qual, check)
        )
    return found


def _views_without_invoker(conn: Connection, schema: str) -> tuple[str, ...]:
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_class c"
            f" WHERE {_RELS} AND c.relkind = 'v' AND NOT EXISTS ("
            "  SELECT 1 FROM unnest(coalesce(c.reloptions, '{}')) o"
            "  WHERE lower(o) IN ('security_invoker=true', 'security_invoker=on',"
            "                     'security_invoker=1', 'security_invoker=yes'))"
            " ORDER BY 1"
        ),
        {"schema": schema},
    )
    return tuple(rows.scalars())


def _definer_functions(conn: Connection, role: str) -> tuple[str, ...]:
    rows = conn.execute(
        text(
            "SELECT p.oid::regprocedure::text FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND has_function_privilege(:role, p.oid, 'EXECUTE') ORDER BY 1"
        ),
        {"role": role},
    )
    return tuple(rows.scalars())


def _role(conn: Connection, role: str, schema: str) -> RoleFacts:
    row = conn.execute(
        text(
            "SELECT r.rolsuper, r.rolbypassrls,"
            " (SELECT pg_has_role(r.oid, d.datdba, 'MEMBER') FROM pg_database d"
            "  WHERE d.datname = current_database())"
            " FROM pg_roles r WHERE r.rolname = :role"
        ),
        {"role": role},
    ).one_or_none()
    if row is None:
        raise UnknownRole(f"role {role!r} does not exist")
    tables = conn.execute(
        text(
            "SELECT c.relname, pg_has_role(:role, c.relowner, 'MEMBER'),"
            " has_table_privilege(:role, c.oid, 'TRUNCATE')"
            f" FROM pg_class c WHERE {_RELS} AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY 1"
        ),
        {"role": role, "schema": schema},
    ).all()
    credentials = conn.execute(
        text(
            "SELECT c.relname, a.attname FROM pg_class c"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
            f" WHERE {_RELS} AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attname ~* :named"
            " AND has_column_privilege(:role, c.oid, a.attnum, 'SELECT') ORDER BY 1, 2"
        ),
        {"role": role, "schema": schema, "named": CREDENTIAL_COLUMN},
    ).all()
    return RoleFacts(
        name=role,
        superuser=bool(row[0]),
        bypassrls=bool(row[1]),
        owns_database=bool(row[2]),
        owns=tuple(name for name, owns, _ in tables if owns),
        can_truncate=tuple(name for name, _, truncate in tables if truncate),
        reads_credentials=tuple((str(t), str(c)) for t, c in credentials),
    )


# A column named like a credential (a PostgreSQL regular expression, case-insensitive).
CREDENTIAL_COLUMN = r"(passw|passwd|pwd|secret|token|api_?key)"
