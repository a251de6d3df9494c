"""Checks after a conversion: nothing lost, nothing changed, every row where its owner is."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, text

from tenantry.migrate import postgres_convert, sqlite_convert, state
from tenantry.migrate.apply import expression, policy_params
from tenantry.migrate.checksum import table_checksum
from tenantry.migrate.mapping import Mapping
from tenantry.migrate.ownership import OWNERS_TABLE
from tenantry.migrate.plan import Plan
from tenantry.migrate.progress import Reporter


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
    """Run every check; read-only (on PostgreSQL inside a transaction that is rolled back)."""
    result = Verification()
    q = engine.dialect.identifier_preparer.quote
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            postgres_convert.relax_rls(conn, plan.order)
        snapshot = state.load_snapshot(conn)
        for name, (count, checksum, columns, key) in sorted(snapshot.items()):
            now_count, now_sum = table_checksum(conn, name, columns, reporter, order_by=key)
            result.add(f"rows:{name}", now_count == count, f"{count} before, {now_count} after")
            result.add(
                f"checksum:{name}",
                now_sum == checksum,
                f"{len(columns)} original column(s) "
                + ("unchanged" if now_sum == checksum else "CHANGED"),
            )
        targets = state.get(conn, "accounts")
        params = policy_params(engine, dict(targets[1]["targets"]) if targets else {})
        for name in plan.order:
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
        users = conn.exec_driver_sql(f"SELECT count(*) FROM {OWNERS_TABLE}").scalar()
        owners = conn.exec_driver_sql(
            f"SELECT count(*) FROM {OWNERS_TABLE} o JOIN tenantry_memberships m ON "
            "m.tenant_id = o.tenant_id AND m.user_id = o.user_id AND m.role = 'owner' "
            "JOIN tenantry_users u ON u.id = o.user_id"
        ).scalar()
        result.add(
            "tenants",
            users == owners == plan.users,
            f"{plan.users} legacy users, {owners} own their personal tenant",
        )
        if engine.dialect.name == "sqlite":
            broken = sqlite_convert.foreign_key_problems(conn)
            result.add(
                "foreign_keys",
                not broken,
                "no broken foreign key" if not broken else "; ".join(broken[:5]),
            )
        conn.rollback()
    return result
