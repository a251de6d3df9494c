"""The dry run: check the mapping against the database and find every data problem first."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection

from tenantry.migrate.errors import MappingError
from tenantry.migrate.mapping import (
    Mapping,
    Policy,
    ProblemKind,
    Reference,
    TableRule,
    check_references,
)
from tenantry.migrate.ownership import conversion_order, owner_select, parent_key, refuse_cycles
from tenantry.migrate.schema import (
    ForeignKey,
    Index,
    TableInfo,
    app_tables,
    password_column,
    table_info,
)
from tenantry.migrate.sqlite_limits import (
    generated_columns,
    rebuild_losses,
    views_reading,
    without_rowid,
)
from tenantry.migrate.users import (
    LegacyUser,
    email_changes,
    email_problems,
    password_formats,
    password_problems,
    read_users,
    single_owner,
)
from tenantry.models import normalize_email

SAMPLES = 5
OWNED_REFS = frozenset({"owner", "reference"})  # references to another owned table


@dataclass(slots=True)
class Problem:
    kind: str
    table: str
    count: int
    detail: str
    policy: str
    blocking: bool
    samples: list[str] = field(default_factory=list)


@dataclass(slots=True)
class RefPlan:
    """One reference of an owned table, and the foreign key it gets after conversion.

    ``fk`` is ``composite`` ((tenant_id, col) -> parent (tenant_id, key)), ``users``
    (col -> tenantry_users.id), ``keep`` (the legacy constraint as it was) or ``none``.
    """

    column: str
    table: str
    key: str
    role: str  # owner | reference | user | global
    fk: str
    declared: bool
    ondelete: str | None = None
    onupdate: str | None = None
    dangling: int = 0
    mixed: int = 0
    dangling_rows: list[str] = field(default_factory=list)  # the first few, for people

    @classmethod
    def of(
        cls,
        column: str,
        table: str,
        key: str,
        role: str,
        fk_kind: str,
        declared: ForeignKey | None,
        dangling: int = 0,
        mixed: int = 0,
    ) -> RefPlan:
        """A reference whose declared constraint (if any) supplies its ON DELETE/UPDATE."""
        return cls(
            column,
            table,
            key,
            role,
            fk_kind,
            declared is not None,
            declared.ondelete if declared else None,
            declared.onupdate if declared else None,
            dangling,
            mixed,
        )


@dataclass(slots=True)
class IncomingKey:
    """A foreign key into an owned table from a table tenantize does not convert (a global
    table, the users table, a table of another schema): kept as it was, against the
    parent's ``UNIQUE`` key when it referred to the primary key that becomes
    ``(tenant_id, key)``. ``table`` is schema-qualified outside the default schema."""

    table: str
    name: str | None
    columns: list[str]
    parent: str
    referred: list[str]
    ondelete: str | None = None
    onupdate: str | None = None

    def same(self, other: IncomingKey) -> bool:
        """The same columns, parent key and actions (names may differ: SQLite has none)."""
        fields = ("table", "columns", "parent", "referred", "ondelete", "onupdate")
        return all(getattr(self, f) == getattr(other, f) for f in fields)

    def __str__(self) -> str:
        return (
            f"{self.table}({', '.join(self.columns)}) -> {self.parent}"
            f"({', '.join(self.referred)}) ON DELETE {self.ondelete or 'NO ACTION'} "
            f"ON UPDATE {self.onupdate or 'NO ACTION'}"
        )


@dataclass(slots=True)
class TablePlan:
    name: str
    rows: int
    is_global: bool
    primary_key: list[str]
    owner: str | None = None
    refs: list[RefPlan] = field(default_factory=list)
    assign_mixed: list[str] = field(default_factory=list)  # columns whose mixed rows are assigned
    needs_unique_key: bool = False
    indexes: list[tuple[str, list[str]]] = field(default_factory=list)
    incoming: list[IncomingKey] = field(default_factory=list)  # kept as they are
    # Index name -> column -> its order other than ascending (``"DESC"``): the twin of
    # a legacy index is sorted as the legacy one is.
    sorting: dict[str, dict[str, str]] = field(default_factory=dict)
    # Index name -> the predicate of a partial legacy index its twin keeps.
    predicates: dict[str, str] = field(default_factory=dict)

    def index_definition(self, index: str, columns: list[str], quote: Callable[[str], str]) -> str:
        """``(columns)`` of ``CREATE INDEX``, each column in its order, and the ``WHERE``
        of a partial one."""
        order = self.sorting.get(index, {})
        listed = ", ".join(f"{quote(c)} {order[c]}" if c in order else quote(c) for c in columns)
        where = self.predicates.get(index)
        return f"({listed}) WHERE ({where})" if where else f"({listed})"


@dataclass(slots=True)
class Plan:
    dialect: str
    users_table: str
    users: int
    tables: list[TablePlan]
    order: list[str]
    problems: list[Problem]
    warnings: list[str] = field(default_factory=list)
    fingerprint: str = ""
    passwords: dict[str, int] = field(default_factory=dict)  # users per hash format
    target: str | None = None  # target mode: the app whose tables the owned ones become
    shapes: dict[str, dict[str, Any]] = field(default_factory=dict)  # target.Shape as dicts
    # Users whose sign-in address is not their old one: {user_id, legacy_email, email, reason}.
    email_changes: list[dict[str, Any]] = field(default_factory=list)
    # [tenants] single: the one tenant's owner (legacy user id) and the others' role;
    # None: a tenant for each user.
    single: tuple[int, str] | None = None

    @property
    def blocking(self) -> list[Problem]:
        return [p for p in self.problems if p.blocking]

    def table(self, name: str) -> TablePlan:
        return next(t for t in self.tables if t.name == name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        tables = [
            TablePlan(
                **{
                    **t,
                    "refs": [RefPlan(**r) for r in t["refs"]],
                    "indexes": [(n, list(c)) for n, c in t["indexes"]],
                    "incoming": [IncomingKey(**k) for k in t.get("incoming", [])],
                }
            )
            for t in data["tables"]
        ]
        problems = [Problem(**p) for p in data["problems"]]
        single = data.get("single")  # a list in JSON; absent from plans recorded before
        return cls(
            **{
                **data,
                "tables": tables,
                "problems": problems,
                "single": (int(single[0]), str(single[1])) if single else None,
            }
        )


def build_plan(conn: Connection, mapping: Mapping) -> Plan:
    """Inspect the legacy database read-only and describe the whole conversion.

    Raises:
        MappingError: the mapping does not fit the database.
    """
    q = conn.dialect.identifier_preparer.quote
    infos = _check_tables(conn, mapping)
    refuse_cycles(mapping)  # a cycle in the mapping itself: say so early
    users = read_users(conn, mapping, q)
    problems = email_problems(users, mapping) + password_problems(users, mapping)
    _check_targets(users, mapping)
    # [tenants] single's owner, found (or refused) before the tables are read
    single = (
        (single_owner(users, mapping).id, mapping.member_role) if mapping.single_tenant else None
    )
    plans: list[TablePlan] = []
    warnings: list[str] = _password_warnings(infos[mapping.users.table], mapping)
    for name in sorted(mapping.tables):
        rule = mapping.tables[name]
        rows = _scalar(conn, f"SELECT count(*) FROM {q(name)}")
        if rule.is_global:
            plans.append(TablePlan(name, rows, True, infos[name].primary_key))
            continue
        plan = _owned_plan(conn, rule, mapping, infos, rows, problems, q)
        plans.append(plan)
        warnings += [
            f"{name}: index {ix} is on an expression: it is kept as it is, without a twin "
            "leading with tenant_id (the tenant indexes are made of columns)"
            for ix in infos[name].expression_indexes
        ]
        people = {r.column for r in plan.refs if r.table == mapping.users.table}
        warnings += [
            _unique_warning(name, ix, people)
            for ix in infos[name].indexes
            if ix.unique and "tenant_id" not in ix.columns
        ]
        warnings += _others_named(conn, plan, mapping, infos, q)
    order = conversion_order(
        {
            p.name: {r.table for r in p.refs if r.role in {"owner", "reference"}}
            for p in plans
            if not p.is_global
        }
    )
    for plan in plans:
        for ref in plan.refs:
            if ref.dangling and ref.role != "owner" and ref.fk != "keep":
                warnings.append(
                    f"{plan.name}.{ref.column}: {ref.dangling} row(s) name a {ref.table} row "
                    "that does not exist; they are kept as they are, "
                    + (
                        "and the tenant-safe key leaves them unchecked (clean them when you "
                        "can: docs/tenantize.md)"
                        if ref.fk == "composite"
                        else "and no foreign key checks them"
                    )
                    + _rows_named(ref)
                )
            if ref.fk != "keep" or ref.role == "global":
                continue
            if ref.table in mapping.tables:  # an owned parent; the users table is neither
                parent = next(p for p in plans if p.name == ref.table)
                parent.needs_unique_key = True
            # Dangling rows keep an owned parent's composite key (unchecked on them): only
            # rows of another owner's parent, or a users reference, make a key plain.
            broken = ref.mixed + (0 if ref.table in mapping.tables else ref.dangling)
            if broken:
                why = f"{broken} row(s) would break a " + (
                    "tenant-safe (composite) one"
                    if ref.table in mapping.tables
                    else "foreign key to tenantry_users (they stay as they were)"
                )
            else:
                why = "a tenant-safe (composite) one cannot keep its SET NULL/DEFAULT action"
            exposes = (
                ": a plain key lets any tenant's rows refer to another tenant's (a write "
                "across tenants, a delete that cascades across them); clean the rows and "
                "make it (tenant_id, ...) in a migration (docs/tenantize.md)"
                if ref.table in mapping.tables
                else ""
            )
            warnings.append(
                f"{plan.name}.{ref.column}: kept as a plain foreign key to {ref.table}"
                f"({ref.key}) because {why}{exposes}" + _rows_named(ref)
            )
    if conn.dialect.name == "sqlite":
        warnings += [w for p in plans if not p.is_global for w in rebuild_losses(conn, p.name)]
        problems += [u for p in plans if not p.is_global for u in _unsupported(conn, p)]
        owned = {p.name for p in plans if not p.is_global}
        warnings += [
            f"view {view} reads {', '.join(read)}: it is kept as it is and shows every "
            "tenant's rows (SQLite has no row-level security); drop it, or create it again "
            "with a tenant_id filter, if the app or anyone else reads it"
            for view, read in views_reading(conn, owned).items()
        ]
    else:
        _refuse_views_on_widened_columns(conn, plans)
        problems += _partitioned(conn, [p for p in plans if not p.is_global])
    shaped = target_shapes(conn, mapping, infos, users, problems, warnings)
    warnings += _keep_incoming(conn, plans, set(shaped))
    result = Plan(
        conn.dialect.name,
        mapping.users.table,
        len(users),
        plans,
        order,
        problems,
        warnings,
        mapping.fingerprint(),
        password_formats(users) if mapping.users.password_hash else {},
        mapping.target,
        shaped,
        email_changes(users, mapping),
        single,
    )
    return result


_INCOMING = """
SELECT c.conrelid::regclass::text, r.relnamespace = current_schema()::regnamespace, r.relname,
       c.conname, p.relname,
       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
       ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i),
       c.confdeltype, c.confupdtype
FROM pg_constraint c
JOIN pg_class r ON r.oid = c.conrelid
JOIN pg_class p ON p.oid = c.confrelid
WHERE c.contype = 'f' AND p.relnamespace = current_schema()::regnamespace
ORDER BY 1, 4
"""
_PG_ACTIONS = {"r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def incoming_keys(conn: Connection, owned: set[str]) -> list[IncomingKey]:
    """Foreign keys into the ``owned`` tables from every table tenantize does not convert,
    in any schema: the plan keeps them, verification finds each one again after."""
    if conn.dialect.name != "sqlite":
        return [
            IncomingKey(
                str(table),
                str(name),
                list(cols),
                str(parent),
                list(refs),
                _PG_ACTIONS.get(str(dele)),
                _PG_ACTIONS.get(str(upd)),
            )
            for table, here, relname, name, parent, cols, refs, dele, upd in conn.exec_driver_sql(
                _INCOMING
            )
            if parent in owned and not (here and relname in owned)
        ]
    found = []
    for name in app_tables(conn):
        if name in owned:
            continue
        for fk in table_info(conn, name).foreign_keys:
            if fk.table in owned:
                found.append(
                    IncomingKey(
                        name,
                        fk.name,
                        list(fk.columns),
                        fk.table,
                        list(fk.referred),
                        fk.ondelete,
                        fk.onupdate,
                    )
                )
    return found


def _keep_incoming(conn: Connection, plans: list[TablePlan], shaped: set[str]) -> list[str]:
    """Keys into owned tables from tables left as they are: each parent keeps a ``UNIQUE``
    key they can refer to (its old primary key becomes ``(tenant_id, key)``). Dropped with
    that primary key, they were lost without a word, and verification passed.

    Raises:
        MappingError: target mode rebuilds the parent as the app's table: no key is kept.
    """
    owned = {p.name: p for p in plans if not p.is_global}
    warnings = []
    for key in incoming_keys(conn, set(owned)):
        if key.parent in shaped:
            raise MappingError(
                f"{key.table} has a foreign key to {key.parent}, which target mode rebuilds as "
                "the app's table: the key cannot be kept; drop it first (and add it back "
                "after), or convert without target mode"
            )
        parent = owned[key.parent]
        parent.incoming.append(key)
        if key.referred == parent.primary_key:
            parent.needs_unique_key = True
        where = "a table of another schema" if "." in key.table else "not converted"
        warnings.append(
            f"{key.table} ({where}) references owned table {key.parent}: its foreign key "
            f"({', '.join(key.columns)}) is kept, against {key.parent}'s UNIQUE "
            f"({', '.join(key.referred)}), with its ON DELETE/UPDATE; the table itself is "
            "left as it is (no tenant_id, no row-level security)"
        )
    return warnings


def target_shapes(
    conn: Connection,
    mapping: Mapping,
    infos: dict[str, TableInfo],
    users: list[LegacyUser],
    problems: list[Problem],
    warnings: list[str],
) -> dict[str, dict[str, Any]]:
    """Target mode: how each table becomes the app's, every row converted once to find
    the values that cannot be (a problem, with their keys)."""
    from datetime import UTC, datetime

    from tenantry.migrate.target import converted_batches, shapes, target_tables

    found = shapes(mapping, infos)
    if not found:
        return {}
    assert mapping.target is not None
    tables = target_tables(mapping.target)
    user_ids = {u.id for u in users}
    now = datetime.now(UTC)
    for name, shape in found.items():
        failures: list[str] = []
        nulled = 0
        for batch in converted_batches(
            conn, shape, tables[shape.into], user_ids, source=name, with_tenant=False, now=now
        ):
            failures += batch.failures
            nulled += batch.nulled_users
        if failures:
            problems.append(
                _problem(
                    ProblemKind.UNCONVERTIBLE,
                    name,
                    len(failures),
                    mapping.policy(ProblemKind.UNCONVERTIBLE),
                    f"{len(failures)} row(s) have a value {mapping.target}'s {shape.into} "
                    "cannot take; fix them, or give the column a default",
                    failures[:SAMPLES],
                )
            )
        if nulled:
            warnings.append(
                f"{name}: {nulled} reference(s) to a user that does not exist become NULL "
                f"in {mapping.target}'s {shape.into} (the row itself is kept)"
            )
    return {name: asdict(shape) for name, shape in found.items()}


def _unsupported(conn: Connection, plan: TablePlan) -> list[Problem]:
    """Owned tables SQLite's rebuild cannot convert: refused here, before the backup and
    any change, not half-way through the apply."""
    problems: list[Problem] = []
    if without_rowid(conn, plan.name):
        problems.append(
            _problem(
                ProblemKind.UNSUPPORTED,
                plan.name,
                plan.rows,
                Policy(),
                f"{plan.name} is a WITHOUT ROWID table, which tenantize cannot rebuild: "
                "recreate it as an ordinary table (the same CREATE TABLE without WITHOUT "
                "ROWID, rows copied across) before converting, or declare it global",
                [],
            )
        )
    generated = generated_columns(conn, plan.name)
    if generated:
        names = ", ".join(f"{plan.name}.{c}" for c in generated)
        problems.append(
            _problem(
                ProblemKind.UNSUPPORTED,
                plan.name,
                plan.rows,
                Policy(),
                f"{names}: generated columns cannot be copied into the rebuilt table: drop "
                f"them before converting (ALTER TABLE {plan.name} DROP COLUMN …) and add them "
                "back after, or compute the values in the app",
                generated,
            )
        )
    return problems


_PARTITIONED = """
SELECT c.relname, c.relkind, p.relname
FROM pg_class c
LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
LEFT JOIN pg_class p ON p.oid = i.inhparent
WHERE c.relnamespace = current_schema()::regnamespace AND (c.relkind = 'p' OR c.relispartition)
"""


def _partitioned(conn: Connection, owned: list[TablePlan]) -> list[Problem]:
    """PostgreSQL: owned partitioned tables and partitions, refused here. A partition
    takes no column of its own (``cannot add column to a partition``) and a partitioned
    table's keys must hold its partition key: the apply failed half-way on them."""
    rows = {p.name: p.rows for p in owned}
    problems: list[Problem] = []
    for name, kind, parent in conn.exec_driver_sql(_PARTITIONED):
        if name not in rows:
            continue
        what = f"a partition of {parent}" if parent else "a partitioned table"
        if kind == "p" and parent:
            what = f"a partitioned table and a partition of {parent}"
        problems.append(
            _problem(
                ProblemKind.UNSUPPORTED,
                name,
                rows[name],
                Policy(),
                f"{name} is {what}: tenantize does not convert partitioned tables or their "
                "partitions; declare the partitioned table and every partition global "
                "(global = true) or convert them by hand",
                [],
            )
        )
    return problems


def _password_warnings(users: TableInfo, mapping: Mapping) -> list[str]:
    """A password column the mapping leaves behind is said out loud, never dropped silently."""
    if mapping.users.password_hash is not None:
        return []
    found = password_column(users.columns)
    if found is None:
        return [f"{users.name}: no password column mapped: every user must reset their password"]
    return [
        f"{users.name}.{found} looks like the users' passwords but the mapping does not copy "
        f'it: every user would have to reset their password (set password_hash = "{found}")'
    ]


def _scalar(conn: Connection, sql: str) -> int:
    return int(conn.exec_driver_sql(sql).scalar() or 0)


def _samples(conn: Connection, sql: str) -> list[str]:
    return [", ".join(map(str, row)) for row in conn.exec_driver_sql(sql + f" LIMIT {SAMPLES}")]


def _check_tables(conn: Connection, mapping: Mapping) -> dict[str, TableInfo]:
    present = set(app_tables(conn))
    users = mapping.users
    if users.table not in present:
        raise MappingError(f"the users table {users.table!r} is not in the database")
    missing = sorted(set(mapping.tables) - present)
    if missing:
        raise MappingError(f"the mapping names tables the database lacks: {', '.join(missing)}")
    undeclared = sorted(present - set(mapping.tables) - {users.table})
    if undeclared:
        raise MappingError(
            "every table must be declared owned or global, nothing is guessed; "
            f"undeclared: {', '.join(undeclared)} (tenantize --init drafts a mapping)"
        )
    check_references(mapping)
    infos = {n: table_info(conn, n) for n in [*mapping.tables, users.table]}
    cols = [users.id, users.email, users.password_hash, users.display_name, users.created_at]
    for col in cols:
        if col is not None and col not in infos[users.table].columns:
            raise MappingError(f"[users]: {users.table} has no column {col!r}")
    for rule in mapping.owned:
        info = infos[rule.name]
        if not info.primary_key:
            raise MappingError(f"{rule.name} has no primary key; tenantize needs one to convert it")
        if "tenant_id" in info.columns:
            raise MappingError(f"{rule.name} already has a tenant_id column")
        for ref in (rule.owner, *rule.references):
            if ref is None:
                continue
            if ref.column not in info.columns:
                raise MappingError(f"[tables.{rule.name}] {ref}: no column {ref.column!r}")
            key = parent_key(ref, infos, mapping)
            if key not in infos[ref.table].columns:
                raise MappingError(f"[tables.{rule.name}] {ref}: {ref.table} has no column {key!r}")
    return infos


def _check_targets(users: list[LegacyUser], mapping: Mapping) -> None:
    emails = {u.canonical for u in users}
    targets = [p.target for p in mapping.policies.values() if p.target and "@" in p.target]
    targets += [t.owner_email for t in mapping.extra_tenants.values() if t.owner_email]
    for email in targets:
        if normalize_email(email) not in emails:
            raise MappingError(f"the mapping names {email!r}, but no user has that email")


def _owned_plan(
    conn: Connection,
    rule: TableRule,
    mapping: Mapping,
    infos: dict[str, TableInfo],
    rows: int,
    problems: list[Problem],
    q: Any,
) -> TablePlan:
    name = rule.name
    info = infos[name]
    owner = rule.owner
    assert owner is not None
    users_table = mapping.users.table
    plan = TablePlan(name, rows, False, info.primary_key, owner=str(owner))
    col = q(owner.column)
    pkey = parent_key(owner, infos, mapping)
    keys = ", ".join(f"t.{q(c)}" for c in info.primary_key)
    orphan_sql = f"SELECT {keys} FROM {q(name)} t WHERE t.{col} IS NULL"
    missing_sql = (
        f"SELECT {keys} FROM {q(name)} t LEFT JOIN {q(owner.table)} p ON p.{q(pkey)} = t.{col} "
        f"WHERE t.{col} IS NOT NULL AND p.{q(pkey)} IS NULL"
    )
    orphans = _scalar(conn, f"SELECT count(*) FROM ({orphan_sql}) s")
    missing = _scalar(conn, f"SELECT count(*) FROM ({missing_sql}) s")
    what = "user" if owner.table == users_table else f"{owner.table} row"
    if orphans:
        problems.append(
            _problem(
                ProblemKind.ORPHAN,
                name,
                orphans,
                mapping.policy(ProblemKind.ORPHAN),
                f"{orphans} row(s) have no {what} ({owner.column} is NULL)",
                _samples(conn, orphan_sql),
            )
        )
    if missing:
        problems.append(
            _problem(
                ProblemKind.MISSING_OWNER,
                name,
                missing,
                mapping.policy(ProblemKind.MISSING_OWNER),
                f"{missing} row(s) name a {what} that does not exist ({owner})",
                _samples(conn, missing_sql),
            )
        )
    declared = {fk.columns[0]: fk for fk in info.foreign_keys if len(fk.columns) == 1}
    refs: dict[str, Reference] = {owner.column: owner}
    for ref in rule.references:
        refs.setdefault(ref.column, ref)
    for column, one in declared.items():
        refs.setdefault(column, Reference(column, one.table, one.referred[0]))
    for multi in info.foreign_keys:
        if len(multi.columns) > 1:
            columns, referred = ",".join(multi.columns), ",".join(multi.referred)
            plan.refs.append(RefPlan.of(columns, multi.table, referred, "global", "keep", multi))
    mixed_policy = mapping.policy(ProblemKind.MIXED_PARENTS)
    for column, ref in refs.items():
        fk = declared.get(column)
        target = mapping.tables.get(ref.table)
        key = (
            parent_key(ref, infos, mapping)
            if (target or ref.table == users_table)
            else (ref.key or (fk.referred[0] if fk else "id"))
        )
        if ref.table == users_table:
            role = "owner" if ref is owner else "user"
            dangling, named = (missing, []) if ref is owner else _dangling(conn, info, ref, key, q)
            fk_kind = (
                "users"
                if mapping.users.retarget_references and not dangling
                else ("keep" if fk else "none")
            )
            plan.refs.append(RefPlan.of(column, ref.table, key, role, fk_kind, fk, dangling))
            plan.refs[-1].dangling_rows = named
            continue
        if target is None or target.is_global:
            if fk is not None:
                plan.refs.append(RefPlan.of(column, ref.table, key, "global", "keep", fk))
            continue
        role = "owner" if ref is owner else "reference"
        dangling, named = (missing, []) if ref is owner else _dangling(conn, info, ref, key, q)
        mixed = 0
        if ref is not owner and not mapping.single_tenant:  # one tenant: never another's
            mixed_sql = (
                f"SELECT {', '.join('a.' + q(c) for c in info.primary_key)} "
                f"FROM ({owner_select(name, mapping, infos, q)}) a "
                f"JOIN ({owner_select(ref.table, mapping, infos, q)}) b "
                f"ON b.{q(key)} = a.{q(column)} WHERE a.__owner <> b.__owner "
                "OR (a.__owner IS NULL AND b.__owner IS NOT NULL) "
                "OR (a.__owner IS NOT NULL AND b.__owner IS NULL)"
            )
            mixed = _scalar(conn, f"SELECT count(*) FROM ({mixed_sql}) s")
            if mixed:
                self_ref = ref.table == name
                blocking_assign = mixed_policy.action == "assign" and self_ref
                problems.append(
                    _problem(
                        ProblemKind.MIXED_PARENTS,
                        name,
                        mixed,
                        mixed_policy,
                        f"{mixed} row(s) reference a {ref.table} row of another owner "
                        f"through {column}"
                        + (" (assign cannot apply to a self-reference)" if blocking_assign else ""),
                        _samples(conn, mixed_sql),
                        force_block=blocking_assign,
                    )
                )
                if mixed_policy.action == "assign":
                    plan.assign_mixed.append(column)
        # Dangling rows (assigned to a tenant) keep the tenant-safe key all the same, left
        # unchecked on them (PostgreSQL: NOT VALID; SQLite checks on writes only): a plain
        # key would let every tenant's rows point at another tenant's, and cascade there.
        fk_kind = "composite" if not mixed else ("keep" if fk else "none")
        if fk_kind == "composite" and _sets_columns(fk, conn.dialect.name):
            fk_kind = "keep"  # a composite key would null tenant_id too; a plain one keeps it
        plan.refs.append(RefPlan.of(column, ref.table, key, role, fk_kind, fk, dangling, mixed))
        plan.refs[-1].dangling_rows = named
    if plan.assign_mixed:
        # Rows moved to another tenant leave every parent behind, not only the disputed one.
        for ref_plan in plan.refs:
            if ref_plan.role == "reference" and ref_plan.fk == "composite":
                ref_plan.fk = "keep" if ref_plan.declared else "none"
    plan.indexes = _tenant_indexes(info, plan)
    return plan


_VIEWS_ON_COLUMNS = """
SELECT DISTINCT v.relname, t.relname, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_depend d
JOIN pg_rewrite r ON r.oid = d.objid
JOIN pg_class v ON v.oid = r.ev_class
JOIN pg_class t ON t.oid = d.refobjid
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
  AND v.oid <> t.oid AND t.relnamespace = current_schema()::regnamespace
ORDER BY 1, 2, 3
"""


def _refuse_views_on_widened_columns(conn: Connection, plans: list[TablePlan]) -> None:
    """PostgreSQL cannot change the type of a column a view or rule uses, and tenantize
    widens integer keys and the columns referring to them to bigint (new rows get 53-bit
    ids): say so before anything changes, not half-way through the apply."""
    altered = {
        (p.name, column)
        for p in plans
        if not p.is_global
        for column in [*p.primary_key, *(r.column for r in p.refs if r.role in OWNED_REFS)]
    }
    found = [
        f"{view} uses {table}.{column}"
        for view, table, column, kind in conn.exec_driver_sql(_VIEWS_ON_COLUMNS)
        if (table, column) in altered and kind in ("integer", "smallint")
    ]
    if found:
        raise MappingError(
            "views or rules use columns tenantize widens to bigint ("
            + "; ".join(found[:5])
            + "): drop them before converting and create them again after "
            "(docs/tenantize.md, Known limits)"
        )


def _sets_columns(fk: ForeignKey | None, dialect: str) -> bool:
    """``SET NULL``/``SET DEFAULT`` actions a composite key cannot keep without touching
    tenant_id: any of them on SQLite, ``ON UPDATE`` ones on PostgreSQL (15 takes a column
    list for ``ON DELETE`` only)."""
    if fk is None:
        return False
    actions = (fk.ondelete, fk.onupdate) if dialect == "sqlite" else (fk.onupdate,)
    return any(a and a.upper().startswith("SET") for a in actions)


def _unique_warning(table: str, index: Index, people: set[str]) -> str:
    """A legacy unique constraint kept across tenants, and what it will refuse."""
    where = f" where {index.where}" if index.where else ""
    said = f"{table}: unique ({', '.join(index.columns)}){where} stays unique across all tenants: "
    if people & set(index.columns):  # (user_id, name): per person, whatever their tenant
        said += (
            "a person who belongs to two tenants is refused in one a value they have in the other"
        )
    else:
        said += (
            "one tenant's value is refused when another tenant has it (which tells it the "
            "value exists)"
        )
    return said + "; make it (tenant_id, ...) in a migration if it is unique per tenant"


def _others_named(
    conn: Connection, plan: TablePlan, mapping: Mapping, infos: dict[str, TableInfo], q: Any
) -> list[str]:
    """References to users (``assigned_to``, ``approved_by``) naming someone other than
    the row's owner: after the conversion that person is not a member of the row's
    tenant, and nothing else says so (a stranger's CRM had approvals by a colleague)."""
    said: list[str] = []
    if mapping.single_tenant:  # every user is a member of the one tenant
        return said
    for ref in plan.refs:
        if ref.role != "user":
            continue
        column = q(ref.column)
        count = _scalar(
            conn,
            f"SELECT count(*) FROM ({owner_select(plan.name, mapping, infos, q)}) a "
            f"WHERE a.{column} IS NOT NULL AND a.__owner IS NOT NULL "
            f"AND a.{column} <> a.__owner",
        )
        if count:
            said.append(
                f"{plan.name}.{ref.column}: {count} row(s) name a user other than the row's "
                "owner, who will not be a member of the row's tenant (each user gets a tenant "
                "of their own): the reference stays; invite them to it if they should see it"
            )
    return said


def _rows_named(ref: RefPlan) -> str:
    """The rows behind a reference's warning, by their keys, so a person can find them."""
    if not ref.dangling_rows:
        return ""
    more = ", …" if ref.dangling > len(ref.dangling_rows) else ""
    return f" (rows: {'; '.join(ref.dangling_rows)}{more})"


def _dangling(
    conn: Connection, info: TableInfo, ref: Reference, key: str, q: Any
) -> tuple[int, list[str]]:
    """How many rows of ``info`` name a ``ref.table`` row that does not exist, and the first
    few as ``id=3 → parent_id=99``, so a person can find them."""
    column = q(ref.column)
    found = (
        f"FROM {q(info.name)} t LEFT JOIN {q(ref.table)} p ON p.{q(key)} = t.{column} "
        f"WHERE t.{column} IS NOT NULL AND p.{q(key)} IS NULL"
    )
    count = _scalar(conn, f"SELECT count(*) {found}")
    if not count:
        return 0, []
    keys = [f"t.{q(c)}" for c in info.primary_key]
    rows = conn.exec_driver_sql(
        f"SELECT {', '.join([*keys, f't.{column}'])} {found} LIMIT {SAMPLES}"
    )
    return count, [
        ", ".join(f"{c}={v}" for c, v in zip(info.primary_key, row, strict=False))
        + f" → {ref.column}={row[-1]}"
        for row in rows
    ]


def _problem(
    kind: ProblemKind,
    table: str,
    count: int,
    policy: Policy,
    detail: str,
    samples: list[str],
    *,
    force_block: bool = False,
) -> Problem:
    text = policy.action + (f":{policy.target}" if policy.target else "")
    return Problem(kind.value, table, count, detail, text, policy.fails or force_block, samples)


def index_name(prefix: str, table: str, columns: list[str]) -> str:
    """``ix_<table>_<cols>`` as the naming convention says, shortened to PostgreSQL's 63."""
    name = f"{prefix}_{table}_{'_'.join(columns)}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:54]}_{digest}"


def _tenant_indexes(info: TableInfo, plan: TablePlan) -> list[tuple[str, list[str]]]:
    """Indexes leading with tenant_id: one per legacy B-tree index (its columns in their
    order, ``plan.sorting``) and per reference column.

    A GIN or GiST index (full text, JSON) stays as it is: a B-tree twin of its column would
    be useless to its queries and fail on a large value (8 kB a B-tree row at most)."""
    wanted: list[tuple[list[str], dict[str, str], str]] = [
        (list(ix.columns), dict(ix.sorting), ix.where)
        for ix in info.indexes
        if not ix.unique and ix.method == "btree"
    ]
    wanted += [([r.column], {}, "") for r in plan.refs if r.role in OWNED_REFS]
    seen: set[tuple[tuple[str, ...], str]] = {(("tenant_id", *info.primary_key), "")}
    result: list[tuple[str, list[str]]] = []
    for cols, order, where in wanted:
        full = ["tenant_id", *cols]
        if (tuple(full), where) in seen or "," in "".join(cols):
            continue
        seen.add((tuple(full), where))
        # A partial twin keeps its legacy predicate, and a name of its own: the full index
        # of the same columns (a reference's) is still made.
        digest = hashlib.sha256(where.encode()).hexdigest()[:6]
        name = index_name("ix", info.name, [*full, "partial", digest] if where else full)
        result.append((name, full))
        if order:
            plan.sorting[name] = order
        if where:
            plan.predicates[name] = where
    return result
