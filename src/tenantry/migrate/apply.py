"""Apply a plan: every step transactional, recorded, and skipped when a re-run finds it done."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tenantry.migrate import faults, postgres_convert, sqlite_convert, state
from tenantry.migrate.backup import (
    backup,
    refuse_overwrite,
    sqlite_journal_mode,
    sqlite_path,
    write_manifest,
)
from tenantry.migrate.checksum import table_checksum
from tenantry.migrate.drift import record_stuck, rows_written
from tenantry.migrate.engine import check_writable
from tenantry.migrate.errors import ProblemsFound, StuckConversion, TenantizeError
from tenantry.migrate.lookups import drop_lookup_indexes
from tenantry.migrate.mapping import Mapping, ProblemKind, Reference
from tenantry.migrate.ownership import OWNERS_TABLE, expected_tenant
from tenantry.migrate.plan import Plan, build_plan
from tenantry.migrate.progress import Reporter
from tenantry.migrate.schema import table_info
from tenantry.migrate.users import create_accounts, owners_sa_table, read_users
from tenantry.models import normalize_email


@dataclass(slots=True)
class ApplyResult:
    plan: Plan
    noop: bool = False
    resumed: bool = False
    backup: str | None = None
    steps: list[str] = field(default_factory=list)


def apply(
    engine: Engine, mapping: Mapping, *, backup_path: Path, reporter: Reporter
) -> ApplyResult:
    """Convert the database ``engine`` points at, or finish an interrupted conversion.

    Raises:
        ProblemsFound: the data has problems the mapping has no policy for.
        TenantizeError: the database was converted with another mapping, or a step failed.
    """
    check_writable(engine)
    with engine.connect() as conn:
        status = state.run_status(conn)
        run = state.get(conn, state.RUN)
        plan = Plan.from_dict(run[1]["plan"]) if run else build_plan(conn, mapping)
        conn.rollback()
    same_mapping(run, mapping)
    if status == "done":
        return ApplyResult(plan, noop=True, backup=run[1].get("backup") if run else None)
    result = ApplyResult(plan, resumed=status is not None)
    if status is None:
        if plan.blocking:
            raise ProblemsFound(f"{len(plan.blocking)} problem(s) need a policy; see the dry run")
        backup_path = backup_path.resolve()  # a rollback may run from another directory
        refuse_overwrite(engine, backup_path)
        journal = (
            sqlite_journal_mode(sqlite_path(engine.url))
            if engine.dialect.name == "sqlite"
            else None
        )
        reporter.step(f"backup: {backup(engine, backup_path)}")
        record = write_manifest(engine, backup_path, journal)
        result.backup = str(backup_path)
        faults.checkpoint("backup")
        _snapshot(engine, plan, mapping, record, reporter)
    else:
        assert run is not None
        result.backup = run[1].get("backup")
        with engine.connect() as conn:
            written = rows_written(conn)
            conn.rollback()
        if written is not None:  # every further step would convert, then fail verification
            record_stuck(engine, written)
            raise StuckConversion(written)
        reporter.step("resuming an interrupted conversion")
        with engine.begin() as conn:
            state.clear(conn, state.STUCK)  # tried again; a step still stuck says so again
    _core_schema(engine, reporter)
    targets = _accounts(engine, mapping, reporter)
    for name in plan.order:
        try:
            _convert(engine, mapping, plan, name, targets, reporter)
        except StuckConversion as exc:
            record_stuck(engine, exc.message)
            raise
        result.steps.append(f"converted {name}")
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            postgres_convert.fix_sequences(conn)
        conn.exec_driver_sql("ANALYZE")
    return result


def same_mapping(run: tuple[str, dict[str, Any]] | None, mapping: Mapping) -> None:
    """Refuse ``mapping`` unless the recorded run (``state.get(conn, state.RUN)``) was
    made with it: its plan, checks and tenants all follow from the mapping.

    Raises:
        TenantizeError: the database was (partly) converted with another mapping.
    """
    if run is not None and run[1]["fingerprint"] != mapping.fingerprint():
        raise TenantizeError(
            "this database was (partly) converted with a different mapping; run tenantize "
            "with that mapping, or --rollback first"
        )


def finish(engine: Engine, plan: Plan, reporter: Reporter) -> None:
    """The last steps, after verification: in target mode each table becomes the app's,
    then row-level security (PostgreSQL), then done."""
    with engine.connect() as conn:
        finished = state.run_status(conn) == "done"
        conn.rollback()
    if finished:
        return
    if plan.shapes:
        _reshape(engine, plan, reporter)
    with engine.begin() as conn:
        drop_lookup_indexes(conn, plan)
        if engine.dialect.name == "postgresql":
            postgres_convert.enable_rls(conn, plan.order)
            reporter.step("row-level security enabled and forced on every owned table")
        found = state.get(conn, state.RUN)
        state.put(conn, state.RUN, "done", found[1] if found else {})
        faults.checkpoint("finish (uncommitted)")


def _reshape(engine: Engine, plan: Plan, reporter: Reporter) -> None:
    from tenantry.migrate.target import Shape, reshape, target_tables

    assert plan.target is not None
    tables = target_tables(plan.target)
    for name in plan.order:
        if name not in plan.shapes:
            continue
        with engine.begin() as conn:
            if state.done(conn, f"target:{name}"):
                continue
            shape = Shape(**plan.shapes[name])
            users = set(conn.exec_driver_sql("SELECT id FROM tenantry_users").scalars())
            rows = reshape(conn, shape, tables[shape.into], users)
            state.put(conn, f"target:{name}", "done", {"rows": rows, "into": shape.into})
            faults.checkpoint(f"reshape {name} (uncommitted)")
        faults.checkpoint(f"reshape {name}")
        reporter.step(f"{name} is now {plan.target}'s {shape.into} ({rows:,} rows)")


def _snapshot(
    engine: Engine, plan: Plan, mapping: Mapping, record: dict[str, Any], reporter: Reporter
) -> None:
    """Counts and checksums of every original column, taken before the first change."""
    rows: dict[str, state.Snapshot] = {}
    with engine.connect() as conn:
        for name in [mapping.users.table, *sorted(mapping.tables)]:
            described = table_info(conn, name)
            key = described.primary_key or described.columns
            count, checksum = table_checksum(conn, name, described.columns, reporter, order_by=key)
            rows[name] = (count, checksum, described.columns, key)
        conn.rollback()
    with engine.begin() as conn:
        state.ensure_tables(conn)
        state.save_snapshot(conn, rows)
        info = {
            "fingerprint": plan.fingerprint,
            "plan": plan.to_dict(),
            "backup": record["backup"],
            "backup_record": record,  # checksum and source: rollback checks them
        }
        state.put(conn, state.RUN, "converting", info)
        faults.checkpoint("snapshot (uncommitted)")
    faults.checkpoint("snapshot")


def _core_schema(engine: Engine, reporter: Reporter) -> None:
    from tenantry.migrations.runner import upgrade

    with engine.connect() as conn:
        finished = state.done(conn, "core_schema")
        conn.rollback()
    if finished:
        return
    # One transaction; idempotent through alembic_version. Legacy references are the
    # conversion's to check (its orphan policy), not the core migrations'.
    upgrade(engine, check_references=False)
    faults.checkpoint("core schema")
    with engine.begin() as conn:
        state.put(conn, "core_schema", "done")
    reporter.step("tenantry tables created (core migrations at head)")


def _accounts(engine: Engine, mapping: Mapping, reporter: Reporter) -> dict[str, str]:
    """Users, personal tenants, memberships; returns the policies' target tenant ids."""
    with engine.begin() as conn:
        found = state.get(conn, "accounts")
        if found is not None:
            return dict(found[1]["targets"])
        q = conn.dialect.identifier_preparer.quote
        users = read_users(conn, mapping, q)
        owners_sa_table(OWNERS_TABLE).create(conn)
        tenants = create_accounts(conn, users, mapping, OWNERS_TABLE)
        targets: dict[str, str] = {}
        for kind, policy in mapping.policies.items():
            if policy.action == "assign" and policy.target:
                key = normalize_email(policy.target) if "@" in policy.target else policy.target
                targets[kind.value] = str(tenants[key])
        state.put(conn, "accounts", "done", {"targets": targets, "users": len(users)})
        faults.checkpoint("accounts (uncommitted)")
    faults.checkpoint("accounts")
    reporter.step(
        f"{len(users)} users, all members of one tenant"
        if mapping.single_tenant
        else f"{len(users)} users, each with a tenant of their own"
    )
    return targets


def tenant_param(engine: Engine, value: str | None) -> Any:
    if value is None:
        return None
    return uuid.UUID(value).hex if engine.dialect.name == "sqlite" else value


def expression(engine: Engine, mapping: Mapping, plan: Plan, name: str) -> str:
    """The SQL giving each row of ``name`` its tenant, policies included."""
    rule = mapping.tables[name]
    table_plan = plan.table(name)
    refs = {r.column: r for r in rule.references}
    assign = [
        refs.get(c) or Reference(c, _ref_table(table_plan, c)) for c in table_plan.assign_mixed
    ]
    infos = {n: _Info(plan.table(n).primary_key) for n in plan.order}
    cast = "uuid" if engine.dialect.name == "postgresql" else ""
    return expected_tenant(
        rule,
        mapping,
        infos,
        engine.dialect.identifier_preparer.quote,
        assign_mixed=assign,
        cast=cast,
    )


def policy_params(engine: Engine, targets: dict[str, str]) -> dict[str, Any]:
    return {
        "orphan": tenant_param(engine, targets.get(ProblemKind.ORPHAN.value)),
        "missing": tenant_param(engine, targets.get(ProblemKind.MISSING_OWNER.value)),
        "mixed": tenant_param(engine, targets.get(ProblemKind.MIXED_PARENTS.value)),
    }


def _convert(
    engine: Engine,
    mapping: Mapping,
    plan: Plan,
    name: str,
    targets: dict[str, str],
    reporter: Reporter,
) -> None:
    expr = expression(engine, mapping, plan, name)
    params = policy_params(engine, targets)
    if engine.dialect.name == "sqlite":
        sqlite_convert.convert_table(engine, plan, plan.table(name), expr, params, reporter)
    else:
        postgres_convert.convert_table(engine, plan, plan.table(name), expr, params, reporter)


def _ref_table(table_plan: Any, column: str) -> str:
    return str(next(r.table for r in table_plan.refs if r.column == column))


@dataclass(slots=True)
class _Info:
    """Just the key, which is all the ownership SQL needs after the plan is made."""

    primary_key: list[str]

    @property
    def key(self) -> str | None:
        return self.primary_key[0] if len(self.primary_key) == 1 else None
