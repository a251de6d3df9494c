"""Checks after a conversion: nothing lost, nothing changed, every row where its owner is."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text

from tenantry.migrate import postgres_convert, sqlite_convert, state
from tenantry.migrate.apply import expression, policy_params
from tenantry.migrate.checksum import table_checksum
from tenantry.migrate.lookups import lookup_indexes
from tenantry.migrate.mapping import Mapping, check_references
from tenantry.migrate.ownership import OWNERS_TABLE
from tenantry.migrate.plan import Plan, TablePlan, incoming_keys
from tenantry.migrate.progress import Reporter
from tenantry.migrate.schema import table_info


@dataclass(slots=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(slots=True)
class Verification:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))


def verify(engine: Engine, mapping: Mapping, plan: Plan, reporter: Reporter) -> Verification:
    """Run every check; read-only (on PostgreSQL inside a transaction that is rolled back).

    Raises:
        MappingError: the mapping's references lead to tables it does not declare.
    """
    check_references(mapping)  # --verify takes any mapping: not one the plan checked
    result = Verification()
    q = engine.dialect.identifier_preparer.quote
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            postgres_convert.relax_rls(conn, plan.order)
        snapshot = state.load_snapshot(conn)
        reshaped = {n: state.get(conn, f"target:{n}") for n in plan.shapes}
        for name, found in sorted(reshaped.items()):
            if found is None or found[0] != "done":
                continue
            rows, into = found[1]["rows"], found[1]["into"]
            result.add(
                f"target:{name}",
                rows == snapshot[name][0],
                f"{snapshot[name][0]} rows before, {rows} in {plan.target}'s {into} "
                "(keys and tenants compared when it was built)",
            )
        snapshot = {n: v for n, v in snapshot.items() if reshaped.get(n) is None}
        for name, (count, checksum, columns, key) in sorted(snapshot.items()):
            now_count, now_sum = table_checksum(
                conn, name, columns, reporter, order_by=key, like=checksum
            )
            result.add(f"rows:{name}", now_count == count, f"{count} before, {now_count} after")
            result.add(
                f"checksum:{name}",
                now_sum == checksum,
                f"the checksum of its {len(columns)} original column(s) "
                + ("is unchanged" if now_sum == checksum else "CHANGED: some value differs"),
            )
        targets = state.get(conn, "accounts")
        params = policy_params(engine, dict(targets[1]["targets"]) if targets else {})
        legacy_order = [n for n in plan.order if n in snapshot]
        # Rolled back with the rest: a --verify after the run leaves no index behind.
        lookup_indexes(conn, plan, legacy_order)
        for name in legacy_order:
            t = q(name)
            nulls = conn.exec_driver_sql(
                f"SELECT count(*) FROM {t} WHERE tenant_id IS NULL"
            ).scalar()
            result.add(f"tenant:{name}", not nulls, f"{nulls or 0} row(s) without a tenant")
            expr = expression(engine, mapping, plan, name)
            distinct = "IS NOT" if engine.dialect.name == "sqlite" else "IS DISTINCT FROM"
            wrong = conn.execute(
                text(f"SELECT count(*) FROM {t} t WHERE t.tenant_id {distinct} ({expr})"), params
            ).scalar()
            result.add(
                f"owner:{name}",
                not wrong,
                f"{wrong or 0} row(s) outside the tenant their ownership path leads to",
            )
            for ref in plan.table(name).refs:
                if ref.role == "reference" and ref.table in plan.order:
                    cross = conn.exec_driver_sql(
                        f"SELECT count(*) FROM {t} t JOIN {q(ref.table)} p ON "
                        f"p.{q(ref.key)} = t.{q(ref.column)} WHERE p.tenant_id <> t.tenant_id"
                    ).scalar()
                    allowed = ref.fk != "composite"
                    result.add(
                        f"reference:{name}.{ref.column}",
                        allowed or not cross,
                        f"{cross or 0} reference(s) into another tenant"
                        + (" (allowed by the mixed_parents policy)" if cross and allowed else ""),
                    )
        result.add(*_tenants_check(conn, plan))
        for name in legacy_order:
            changed = action_changes(conn, plan.table(name))
            result.add(
                f"actions:{name}",
                not changed,
                "; ".join(changed) or "ON DELETE/UPDATE of every foreign key as before",
            )
        now = incoming_keys(conn, set(plan.order))
        for table in plan.tables:
            if not table.incoming:
                continue
            lost = [str(k) for k in table.incoming if not any(k.same(n) for n in now)]
            result.add(
                f"kept:{table.name}",
                not lost,
                ("missing after: " + "; ".join(lost))
                if lost
                else f"the {len(table.incoming)} foreign key(s) into it from tables left as "
                "they are, as before",
            )
        if engine.dialect.name == "sqlite":
            broken = sqlite_convert.foreign_key_problems(conn)
            known = _known_dangling(plan)
            left = [b for b in broken if not _consume(known, b)]
            kept = len(broken) - len(left)
            result.add(
                "foreign_keys",
                not left,
                "; ".join(left[:5])
                if left
                else "no broken foreign key"
                + (f" ({kept} dangling reference(s) kept as they were)" if kept else ""),
            )
        conn.rollback()
    return result


def _normal(action: str | None) -> str:
    return (action or "NO ACTION").upper().split("(")[0].strip()


def action_changes(conn: Connection, table: TablePlan) -> list[str]:
    """Foreign keys whose ON DELETE/UPDATE differs from the legacy one (read from the plan)."""
    now = table_info(conn, table.name).foreign_keys
    changes = []
    for ref in table.refs:
        if not ref.declared or ref.fk == "none":
            continue
        columns = tuple(ref.column.split(","))
        found = next(
            (fk for fk in now if tuple(c for c in fk.columns if c != "tenant_id") == columns), None
        )
        before = (_normal(ref.ondelete), _normal(ref.onupdate))
        after = (_normal(found.ondelete), _normal(found.onupdate)) if found else None
        if after != before:
            changes.append(
                f"{table.name}.{ref.column}: ON DELETE {before[0]} / ON UPDATE {before[1]} before, "
                + (
                    f"ON DELETE {after[0]} / ON UPDATE {after[1]} after"
                    if after
                    else "no foreign key after"
                )
            )
    return changes


def _known_dangling(plan: Plan) -> dict[tuple[str, str], int]:
    """Dangling references the dry run reported, which their foreign keys leave unchecked."""
    known: dict[tuple[str, str], int] = {}
    for table in plan.tables:
        for ref in table.refs:
            if ref.fk in ("keep", "composite") and ref.dangling:
                key = (table.name, ref.table)
                known[key] = known.get(key, 0) + ref.dangling
    return known


def _consume(known: dict[tuple[str, str], int], line: str) -> bool:
    table, _, rest = line.partition(" rowid ")
    parent = rest.partition(" -> ")[2]
    if known.get((table, parent), 0) > 0:
        known[(table, parent)] -= 1
        return True
    return False


def _tenants_check(conn: Connection, plan: Plan) -> tuple[str, bool, str]:
    """Every legacy user owns a tenant of their own, or (``[tenants] single``) is a member
    of the one tenant, which its owner owns."""
    users = conn.exec_driver_sql(f"SELECT count(*) FROM {OWNERS_TABLE}").scalar()
    roles: dict[str, int] = dict(
        conn.exec_driver_sql(
            f"SELECT m.role, count(*) FROM {OWNERS_TABLE} o JOIN tenantry_memberships m ON "
            "m.tenant_id = o.tenant_id AND m.user_id = o.user_id "
            "JOIN tenantry_users u ON u.id = o.user_id GROUP BY m.role"
        ).all()
    )
    if plan.single is None:
        owners = roles.get("owner", 0)
        ok = users == owners == plan.users
        return "tenants", ok, f"{plan.users} legacy users, {owners} own their tenant"
    held = conn.exec_driver_sql(f"SELECT count(DISTINCT tenant_id) FROM {OWNERS_TABLE}").scalar()
    owner, role = plan.single
    owns = conn.exec_driver_sql(
        f"SELECT count(*) FROM {OWNERS_TABLE} o JOIN tenantry_memberships m ON "
        "m.tenant_id = o.tenant_id AND m.user_id = o.user_id AND m.role = 'owner' "
        f"WHERE o.user_id = {int(owner)}"
    ).scalar()
    ok = (
        users == plan.users
        and held == 1
        and owns == 1
        and sum(roles.values()) == plan.users
        and roles.get(role, 0) == plan.users - 1
    )
    return (
        "tenants",
        ok,
        f"{plan.users} legacy users in one tenant, user {owner} its owner, "
        f"{roles.get(role, 0)} its {role}s",
    )
