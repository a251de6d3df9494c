"""PostgreSQL: add tenant_id in place, backfill it in batches, then swap keys in one transaction.

PostgreSQL changes keys without a rebuild: ``ADD COLUMN`` (no default: instant),
an ``UPDATE`` per key range, then ``SET NOT NULL``, the (tenant_id, key) primary
key, tenant-safe foreign keys, indexes leading with tenant_id and, as the last
step of the whole run, row-level security.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, text

from tenantry.migrate import faults, state
from tenantry.migrate.errors import TenantizeError
from tenantry.migrate.identifiers import quoted as _q
from tenantry.migrate.lookups import lookup_indexes
from tenantry.migrate.plan import OWNED_REFS, Plan, RefPlan, TablePlan, index_name
from tenantry.migrate.progress import Reporter

BATCH = 50_000
_INTEGER_TYPES = {"integer", "smallint"}


def _done(engine: Engine, step: str) -> bool:
    with engine.connect() as conn:
        return state.done(conn, step)


def convert_table(
    engine: Engine,
    whole: Plan,
    plan: TablePlan,
    expr: str,
    params: dict[str, Any],
    reporter: Reporter,
) -> None:
    name = plan.name
    if _done(engine, f"table:{name}"):
        return
    with engine.begin() as conn:
        if not state.done(conn, f"column:{name}"):
            conn.exec_driver_sql(f"ALTER TABLE {_q(name)} ADD COLUMN IF NOT EXISTS tenant_id uuid")
            state.put(conn, f"column:{name}", "done")
        lookup_indexes(conn, whole, [name])
    faults.checkpoint(f"column {name}")
    _backfill(engine, plan, expr, params, reporter)
    with engine.begin() as conn:
        _finalize(conn, plan)
        state.put(conn, f"table:{name}", "done", {"rows": plan.rows})
        faults.checkpoint(f"finalize {name} (uncommitted)")
    faults.checkpoint(f"finalize {name}")


def _backfill(
    engine: Engine, plan: TablePlan, expr: str, params: dict[str, Any], reporter: Reporter
) -> None:
    name = plan.name
    step = f"backfill:{name}"
    key = plan.primary_key[0] if len(plan.primary_key) == 1 else None
    with engine.begin() as conn:
        found = state.get(conn, step)
        if found is None:
            lo = hi = 0
            if key is not None and _is_integer(conn, name, key):
                row = conn.exec_driver_sql(
                    f"SELECT min({_q(key)}), max({_q(key)}) FROM {_q(name)}"
                ).one()
                lo, hi = int(row[0] or 0), int(row[1] or 0)
            info: dict[str, Any] = {
                "next": lo,
                "max": hi,
                "ranged": key is not None and hi > 0,
                "done_rows": 0,
            }
            state.put(conn, step, "running", info)
        else:
            info = found[1]
    if found is not None and found[0] == "done":
        return
    task = reporter.task(f"backfill {name}", plan.rows)
    task.advance(int(info["done_rows"]))
    base = f"UPDATE {_q(name)} AS t SET tenant_id = {expr} WHERE t.tenant_id IS NULL"
    while True:
        with engine.begin() as conn, _user_triggers_off(conn, name):
            if info["ranged"]:
                lo = int(info["next"])
                if lo > int(info["max"]):
                    break
                sql = text(
                    base + f" AND t.{_q(plan.primary_key[0])} >= :lo "
                    f"AND t.{_q(plan.primary_key[0])} < :hi"
                )
                count = conn.execute(sql, {**params, "lo": lo, "hi": lo + BATCH}).rowcount
                info = {**info, "next": lo + BATCH}
            else:
                count = conn.execute(text(base), params).rowcount
                info = {**info, "ranged": True, "next": 1, "max": 0}
            info["done_rows"] = int(info["done_rows"]) + count
            state.put(conn, step, "running", info)
        faults.checkpoint(f"backfill {name} batch")
        task.advance(count)
    task.finish()
    with engine.begin() as conn:
        state.put(conn, step, "done", info)


@contextmanager
def _user_triggers_off(conn: Connection, table: str) -> Iterator[None]:
    """The table's own enabled triggers off for this transaction's backfill: a legacy
    ``BEFORE UPDATE`` trigger (``updated_at = now()``) would rewrite every row's data, which
    verification then refuses. Turned on again before the commit, so a crash leaves them as
    they were."""
    names = [
        str(r[0])
        for r in conn.execute(
            text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass) "
                "AND NOT tgisinternal AND tgenabled <> 'D'"
            ),
            {"t": _q(table)},
        )
    ]
    for trigger in names:
        conn.exec_driver_sql(f"ALTER TABLE {_q(table)} DISABLE TRIGGER {_q(trigger)}")
    yield
    for trigger in names:
        conn.exec_driver_sql(f"ALTER TABLE {_q(table)} ENABLE TRIGGER {_q(trigger)}")


def _is_integer(conn: Connection, table: str, column: str) -> bool:
    return _column(conn, table, column)[0] in _INTEGER_TYPES | {"bigint"}


def _column(conn: Connection, table: str, column: str) -> tuple[str, str]:
    """The column's type (``integer``, ``bigint``, …) and identity: ``a`` (GENERATED
    ALWAYS), ``d`` (BY DEFAULT) or '' (none)."""
    row = conn.execute(
        text(
            "SELECT format_type(atttypid, atttypmod), attidentity FROM pg_attribute "
            "WHERE attrelid = CAST(:t AS regclass) AND attname = :c"
        ),
        {"t": _q(table), "c": column},
    ).one()
    return str(row[0]), str(row[1] or "")


def _finalize(conn: Connection, plan: TablePlan) -> None:
    name = plan.name
    t = _q(name)
    nulls = conn.exec_driver_sql(f"SELECT count(*) FROM {t} WHERE tenant_id IS NULL").scalar()
    if nulls:
        raise TenantizeError(
            f"{name}: {nulls} row(s) have no tenant and their problem's policy is 'fail'; "
            "run the dry run and give the problem a policy"
        )
    conn.exec_driver_sql(f"ALTER TABLE {t} ALTER COLUMN tenant_id SET NOT NULL")
    fk_tenant = index_name("fk", name, ["tenant_id", "tenantry_tenants"])
    conn.exec_driver_sql(f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {_q(fk_tenant)}")
    conn.exec_driver_sql(
        f"ALTER TABLE {t} ADD CONSTRAINT {_q(fk_tenant)} FOREIGN KEY (tenant_id) "
        "REFERENCES tenantry_tenants (id) ON DELETE CASCADE"
    )
    pk_name = conn.execute(
        text(
            "SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
            "AND contype = 'p'"
        ),
        {"t": t},
    ).scalar()
    kept = _incoming_on_key(conn, plan)
    if pk_name:
        # CASCADE drops the children's foreign keys to it; each child re-creates its own,
        # and the keys of tables left as they are (``kept``) are added back below.
        conn.exec_driver_sql(f"ALTER TABLE {t} DROP CONSTRAINT {_q(str(pk_name))} CASCADE")
    owned_refs = [r.column for r in plan.refs if r.role in OWNED_REFS]
    for col in [*plan.primary_key, *owned_refs]:
        if _column(conn, name, col)[0] in _INTEGER_TYPES:
            # Rows created later get random 53-bit ids (tenantry.ids.new_row_id), keys
            # and the columns referring to them alike.
            conn.exec_driver_sql(f"ALTER TABLE {t} ALTER COLUMN {_q(col)} TYPE bigint")
    for col in plan.primary_key:
        if _column(conn, name, col)[1] == "a":
            # GENERATED ALWAYS refuses the ids tenantry gives new rows; BY DEFAULT takes
            # them and still numbers rows inserted without one.
            conn.exec_driver_sql(f"ALTER TABLE {t} ALTER COLUMN {_q(col)} SET GENERATED BY DEFAULT")
    keys = ", ".join(_q(c) for c in ["tenant_id", *plan.primary_key])
    conn.exec_driver_sql(f"ALTER TABLE {t} ADD CONSTRAINT {_q('pk_' + name)} PRIMARY KEY ({keys})")
    if plan.needs_unique_key:
        uq = index_name("uq", name, plan.primary_key)
        conn.exec_driver_sql(f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {_q(uq)}")
        conn.exec_driver_sql(
            f"ALTER TABLE {t} ADD CONSTRAINT {_q(uq)} UNIQUE "
            f"({', '.join(map(_q, plan.primary_key))})"
        )
    for table, conname, definition in kept:  # as they were, now against the UNIQUE key
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD CONSTRAINT {_q(conname)} {definition}")
    declared = {
        str(r[0]): str(r[1])
        for r in conn.execute(
            text(
                "SELECT c.conname, a.attname FROM pg_constraint c JOIN pg_attribute a ON "
                "a.attrelid = c.conrelid AND a.attnum = c.conkey[1] WHERE c.conrelid = "
                "CAST(:t AS regclass) AND c.contype = 'f' AND array_length(c.conkey, 1) = 1"
            ),
            {"t": t},
        )
    }
    for ref in plan.refs:
        if ref.role == "global":
            continue
        for conname, col in declared.items():
            if col == ref.column and conname != fk_tenant:
                conn.exec_driver_sql(f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {_q(conname)}")
        clause = _fk_clause(name, ref)
        if clause:
            conn.exec_driver_sql(f"ALTER TABLE {t} ADD {clause}")
    for ix_name, cols in plan.indexes:
        conn.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {_q(ix_name)} ON {t} "
            + plan.index_definition(ix_name, cols, _q)
        )


def _incoming_on_key(conn: Connection, plan: TablePlan) -> list[tuple[str, str, str]]:
    """The table (as ``regclass`` spells it), name and definition of each foreign key the
    plan keeps (:class:`~tenantry.migrate.plan.IncomingKey`) that depends on the primary
    key about to be dropped: read before the ``DROP … CASCADE`` takes them with it."""
    kept = {(k.table, k.name) for k in plan.incoming}
    rows = conn.execute(
        text(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c JOIN pg_constraint pk ON pk.conrelid = c.confrelid "
            "AND pk.contype = 'p' AND pk.conindid = c.conindid "
            "WHERE c.contype = 'f' AND c.confrelid = CAST(:t AS regclass) ORDER BY 1, 2"
        ),
        {"t": _q(plan.name)},
    )
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows if (str(r[0]), str(r[1])) in kept]


def _actions(ref: RefPlan, composite: bool) -> str:
    out = ""
    for word, action in (("DELETE", ref.ondelete), ("UPDATE", ref.onupdate)):
        if not action or action.upper() == "NO ACTION":
            continue
        if composite and action.upper() in {"SET NULL", "SET DEFAULT"}:
            if word == "UPDATE":
                continue
            action = f"{action} ({_q(ref.column)})"  # PostgreSQL 15: leave tenant_id alone
        out += f" ON {word} {action}"
    return out


def _fk_clause(table: str, ref: RefPlan) -> str | None:
    if ref.fk == "composite":
        name = index_name("fk", table, ["tenant_id", ref.column, ref.table])
        return (
            f"CONSTRAINT {_q(name)} FOREIGN KEY (tenant_id, {_q(ref.column)}) "
            f"REFERENCES {_q(ref.table)} (tenant_id, {_q(ref.key)})"
            + _actions(ref, True)
            + (" NOT VALID" if ref.dangling else "")  # the dangling rows stay unchecked
        )
    if ref.fk == "users":
        name = index_name("fk", table, [ref.column, "tenantry_users"])
        return (
            f"CONSTRAINT {_q(name)} FOREIGN KEY ({_q(ref.column)}) "
            "REFERENCES tenantry_users (id)" + _actions(ref, False)
        )
    if ref.fk == "keep":
        name = index_name("fk", table, [ref.column, ref.table])
        return (
            f"CONSTRAINT {_q(name)} FOREIGN KEY ({_q(ref.column)}) "
            f"REFERENCES {_q(ref.table)} ({_q(ref.key)})"
            + _actions(ref, False)
            + (" NOT VALID" if ref.dangling else "")  # as it was: old rows stay unchecked
        )
    return None


def fix_sequences(conn: Connection) -> None:
    """Legacy ids were inserted explicitly: move tenantry_users' sequence past them."""
    conn.exec_driver_sql(
        "SELECT setval(pg_get_serial_sequence('tenantry_users', 'id'), "
        "GREATEST((SELECT max(id) FROM tenantry_users), 1))"
    )


def enable_rls(conn: Connection, tables: list[str]) -> None:
    """RLS enabled and forced, with tenantry's one tenant policy, on every owned table."""
    from tenantry.rls import enable_rls_statements

    for name in tables:
        for statement in enable_rls_statements(name):
            conn.exec_driver_sql(statement)


def relax_rls(conn: Connection, tables: list[str]) -> None:
    """Inside a transaction that is rolled back: let the owner read every tenant's rows."""
    for name in tables:
        conn.exec_driver_sql(f"ALTER TABLE IF EXISTS {_q(name)} NO FORCE ROW LEVEL SECURITY")
