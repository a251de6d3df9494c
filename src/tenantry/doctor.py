"""The schema doctor: every way a live schema falls short of tenant isolation, as findings.

The checks are pure functions of :class:`~tenantry.inspection.SchemaFacts`, so
each rule is tested without a database; :func:`diagnose` reads the facts of a
live database (SQLite or PostgreSQL) and runs them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from sqlalchemy import Engine

from tenantry.inspection import RoleFacts, SchemaFacts, TableFacts, collect, column_difference
from tenantry.rls.policy import POLICY_NAME, TENANT_COLUMN, is_control_plane, policy_expression


@dataclass(frozen=True)
class Finding:
    """One problem: which table (or role), which check, and what is wrong, in words."""

    table: str | None
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.table or '(database)'}: {self.message} [{self.check}]"

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


@dataclass(frozen=True)
class Report:
    facts: SchemaFacts
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


def diagnose(
    engine: Engine,
    *,
    app_role: str | None = None,
    schema: str | None = None,
    models: Mapping[str, Iterable[str]] | None = None,
    version_dirs: Iterable[Path] | None = None,
) -> Report:
    """Inspect the database of ``engine`` and check it.

    Args:
        engine: an engine of the database to check (any role that can read the catalog).
        app_role: the runtime role to vet (PostgreSQL only).
        schema: the schema of the application's tables; the default one if omitted.
        models: the app's tables and their columns (``model_columns()``): a table of the
            database with other columns is reported.
        version_dirs: with them, migrations of the core and these directories that are
            not applied are reported too (:func:`check_migrations`).

    Raises:
        tenantry.inspection.UnknownRole: ``app_role`` does not exist.
    """
    with engine.connect() as conn:
        facts = collect(conn, schema=schema, app_role=app_role)
    findings = [*check_schema(facts), *check_models(facts, models or {})]
    if version_dirs is not None:
        pending, notes = check_migrations(engine, version_dirs)
        findings += pending
        facts = replace(facts, notes=(*facts.notes, *notes))
    return Report(facts, tuple(findings))


def check_migrations(
    engine: Engine, version_dirs: Iterable[Path] = ()
) -> tuple[list[Finding], list[str]]:
    """Revisions of the core (and ``version_dirs``) not applied, as findings; applied
    revisions none of them names, as notes (an app's own, or a newer release's: only the
    app or that release can tell). A database never migrated has no ``alembic_version``:
    the schema checks say what is missing."""
    from alembic.script import ScriptDirectory

    from tenantry.migrations.runner import alembic_config, current_heads, known_revisions

    script = ScriptDirectory.from_config(alembic_config(engine, list(version_dirs)))
    current = current_heads(engine)
    unknown = current - known_revisions(script)
    pending = []
    for head in sorted(script.get_heads()):
        if head in current:
            continue
        older = {r.revision for r in script.iterate_revisions(head, "base")} & current
        # An older revision of its line applied: pending. None of it: never applied, or
        # (when a revision is unknown) moved past by a newer release: only a note says so.
        if older or not unknown:
            pending.append(head)
    findings = (
        [
            Finding(
                None,
                "migrations_pending",
                f"migrations pending ({', '.join(pending)} not applied): run `tenantry migrate`",
            )
        ]
        if pending and current
        else []
    )
    notes = [
        f"revision {r} is not one of this release's migrations (an app's own, or a newer release's)"
        for r in sorted(unknown)
    ]
    return findings, notes


def model_columns() -> dict[str, list[str]]:
    """Every mapped table of tenantry's metadata and its columns (the app's models)."""
    from tenantry.models import Base

    return {name: [c.name for c in table.columns] for name, table in Base.metadata.tables.items()}


def check_models(facts: SchemaFacts, models: Mapping[str, Iterable[str]]) -> Iterator[Finding]:
    """A table the app maps must have the app's columns: otherwise every query on it fails."""
    for table in facts.tables:
        expected = models.get(table.name)
        if expected is None:
            continue
        problem = column_difference(table.name, table.columns, expected)
        if problem:
            yield Finding(table.name, "schema_mismatch", problem)


def check_schema(facts: SchemaFacts) -> Iterator[Finding]:
    """Every finding for ``facts``, table by table, then the database-wide ones."""
    tenant_names = {t.name for t in facts.tenant_tables}
    role = facts.role.name if facts.role else None
    by_name = {t.name: t for t in facts.tables}
    for table in facts.tenant_tables:
        yield from check_tenant_column(table)
        yield from check_tenant_index(table)
        yield from check_keys(table)
        yield from check_foreign_keys(table, tenant_names)
        if facts.backend == "postgresql":
            yield from check_rls(table, app_role=role)
            yield from check_reference_widths(table, by_name)
    for view in facts.views_without_invoker:
        yield Finding(
            view,
            "view_not_security_invoker",
            "view runs with its owner's rights, not the caller's: "
            "set security_invoker = true so RLS applies to the caller",
        )
    for function in facts.definer_functions:
        yield Finding(
            None,
            "security_definer_function",
            f"SECURITY DEFINER function {function} is executable by "
            f"{role or 'PUBLIC'} and could read past RLS",
        )
    if facts.role is not None:
        yield from check_role(facts.role, tenant_names)
        yield from check_credentials(facts.role, tenant_names)


def check_tenant_column(table: TableFacts) -> Iterator[Finding]:
    if table.columns.get(TENANT_COLUMN, False):
        yield Finding(table.name, "tenant_id_nullable", "tenant_id allows NULL: make it NOT NULL")


def check_tenant_index(table: TableFacts) -> Iterator[Finding]:
    leading = [table.primary_key, *table.unique, *table.indexes]
    if not any(cols and cols[0] == TENANT_COLUMN for cols in leading):
        yield Finding(
            table.name,
            "no_tenant_index",
            "no index leads with tenant_id: every tenant query scans the table",
        )


def check_keys(table: TableFacts) -> Iterator[Finding]:
    if not table.primary_key:
        yield Finding(table.name, "no_primary_key", "no primary key: use (tenant_id, id)")
    elif TENANT_COLUMN not in table.primary_key:
        yield Finding(
            table.name,
            "primary_key_without_tenant",
            f"primary key ({', '.join(table.primary_key)}) does not include tenant_id",
        )
    for cols in table.unique:
        if TENANT_COLUMN not in cols:
            yield Finding(
                table.name,
                "unique_without_tenant",
                f"unique ({', '.join(cols)}) does not include tenant_id: "
                "one tenant's value would block another's",
            )


def check_foreign_keys(table: TableFacts, tenant_tables: Iterable[str]) -> Iterator[Finding]:
    """A reference to a tenant table must match tenant_id to tenant_id: (tenant_id, x)."""
    tenant_tables = set(tenant_tables)
    for fk in table.foreign_keys:
        if fk.referred_table not in tenant_tables:
            continue  # the control plane or a shared lookup table
        pairs = dict(zip(fk.columns, fk.referred_columns, strict=False))
        if pairs.get(TENANT_COLUMN) != TENANT_COLUMN:
            yield Finding(
                table.name,
                "foreign_key_without_tenant",
                f"foreign key ({', '.join(fk.columns)}) -> {fk.referred_table}"
                f"({', '.join(fk.referred_columns)}) does not match tenant_id to "
                "tenant_id: a row could point into another tenant",
            )


_INTEGER_BITS = {"smallint": 16, "integer": 32, "bigint": 64}


def check_reference_widths(
    table: TableFacts, tables: Mapping[str, TableFacts]
) -> Iterator[Finding]:
    """A referencing integer column must hold every key it may reference (PostgreSQL).

    Row ids are 53-bit (ADR 0002): an ``integer`` column referencing a ``bigint`` id
    refuses the first id past 2**31 with "integer out of range". SQLite's integers
    are all 64-bit.
    """
    for fk in table.foreign_keys:
        referred = tables.get(fk.referred_table)
        if referred is None:
            continue
        for column, key in zip(fk.columns, fk.referred_columns, strict=False):
            mine, theirs = table.types.get(column, ""), referred.types.get(key, "")
            if _INTEGER_BITS.get(mine, 64) < _INTEGER_BITS.get(theirs, 0):
                yield Finding(
                    table.name,
                    "reference_narrower_than_key",
                    f"{column} is {mine} but references {fk.referred_table}.{key} ({theirs}):"
                    f" keys past its range will not fit; ALTER TABLE {table.name} ALTER COLUMN"
                    f" {column} TYPE {theirs}",
                )


def _normalise(expression: str | None) -> str:
    """Compare policy expressions as PostgreSQL prints them: no casts to text, parentheses,
    quotes or spaces."""
    text = (expression or "").lower().replace("::text", "")
    return re.sub(r'[\s()"]', "", text)


_EXPECTED = _normalise(policy_expression())


def check_rls(table: TableFacts, *, app_role: str | None = None) -> Iterator[Finding]:
    """ENABLE and FORCE RLS, and one permissive FOR ALL policy with the tenant expression."""
    if not table.rls_enabled:
        yield Finding(table.name, "rls_disabled", "row-level security is not enabled")
    if not table.rls_forced:
        yield Finding(
            table.name,
            "rls_not_forced",
            "row-level security is not forced: the table owner bypasses it",
        )
    good = [
        p for p in table.policies if _is_tenant_policy(p.command, p.using, p.check, p.permissive)
    ]
    if not good:
        yield Finding(
            table.name,
            "no_tenant_policy",
            f"no policy FOR ALL with USING and WITH CHECK ({policy_expression()}); "
            f"expected policy {POLICY_NAME}",
        )
    for policy in good:
        if "public" not in policy.roles and (app_role is None or app_role not in policy.roles):
            yield Finding(
                table.name,
                "policy_roles",
                f"policy {policy.name} applies to {', '.join(policy.roles)} only",
            )
    for policy in table.policies:
        if policy.permissive and policy not in good:
            yield Finding(
                table.name,
                "extra_permissive_policy",
                f"permissive policy {policy.name} ({policy.command}) widens access "
                "beyond the tenant policy",
            )


def _is_tenant_policy(command: str, using: str | None, check: str | None, permissive: bool) -> bool:
    return (
        permissive
        and command == "ALL"
        and _normalise(using) == _EXPECTED
        and _normalise(check) == _EXPECTED
    )


def check_role(role: RoleFacts, tenant_tables: Iterable[str]) -> Iterator[Finding]:
    """The runtime role must be neither superuser nor owner, without BYPASSRLS or TRUNCATE."""
    if role.superuser:
        yield Finding(None, "app_role_superuser", f"app role {role.name} is a superuser")
    if role.bypassrls:
        yield Finding(None, "app_role_bypassrls", f"app role {role.name} has BYPASSRLS")
    if role.owns_database:
        yield Finding(None, "app_role_owns_database", f"app role {role.name} owns the database")
    tenant_tables = set(tenant_tables)
    for name in role.owns:
        what = "tenant table" if name in tenant_tables else "table"
        yield Finding(
            name,
            "app_role_owner",
            f"app role {role.name} owns this {what} and could switch RLS off",
        )
    for name in role.can_truncate:
        yield Finding(
            name, "app_role_truncate", f"app role {role.name} may TRUNCATE, which ignores RLS"
        )


def check_credentials(role: RoleFacts, tenant_tables: Iterable[str]) -> Iterator[Finding]:
    """A credential the runtime role reads outside the tenant tables is every tenant's: the
    legacy users table tenantize copied accounts from keeps its password hashes, readable
    by any raw query of the app. tenantry's own tables are the core's to read."""
    tenant_tables = set(tenant_tables)
    by_table: dict[str, list[str]] = {}
    for table, column in role.reads_credentials:
        if table not in tenant_tables and not is_control_plane(table):
            by_table.setdefault(table, []).append(column)
    for table, columns in by_table.items():
        yield Finding(
            table,
            "credentials_readable",
            f"app role {role.name} may read {', '.join(columns)} of every row (no tenant, "
            f"no RLS): revoke it (REVOKE SELECT ON {table} FROM {role.name}, or grant only "
            "the columns the app reads) or drop the column once nothing reads it",
        )
