"""SQLite: rebuild each owned table with tenant_id and a (tenant_id, key) primary key.

SQLite cannot change a primary key in place, so this is its documented 12-step
ALTER procedure: create the new table, copy rows across in committed batches
(filling tenant_id as they go), then in one transaction drop the old table,
rename the new one and recreate indexes and triggers. Foreign-key enforcement
is off on the converting connection (see ``apply.conversion_engine``).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, Engine, text

from tenantry.migrate import faults, state
from tenantry.migrate.drift import WAY_OUT
from tenantry.migrate.errors import StuckConversion, TenantizeError
from tenantry.migrate.identifiers import quoted as _q
from tenantry.migrate.lookups import lookup_indexes
from tenantry.migrate.plan import Plan, RefPlan, TablePlan, index_name
from tenantry.migrate.progress import Reporter
from tenantry.sqlite import broken_references

BATCH = 50_000


# What ``DEFAULT`` takes without brackets: a number, a string, a blob, or a name (NULL,
# TRUE, CURRENT_TIMESTAMP, …; SQLite reads any other bare or quoted name as its text).
_LITERAL = re.compile(
    r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?0[xX][0-9a-fA-F]+"
    r"|'(?:[^']|'')*'|[xX]'[0-9a-fA-F]*'"
    r'|[^\W\d][\w$]*|"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]'
)


def default_sql(value: str) -> str:
    """The ``DEFAULT`` clause's value for ``PRAGMA table_xinfo``'s ``dflt_value``.

    The PRAGMA gives an expression default without its brackets (``date('now')`` for
    ``DEFAULT (date('now'))``), which ``DEFAULT`` alone cannot parse: an expression is
    bracketed again; a literal stays as written, so ordinary schemas are rebuilt verbatim.
    """
    return value if _LITERAL.fullmatch(value) else f"({value})"


def new_table_ddl(conn: Connection, plan: TablePlan, new_name: str) -> str:
    """``CREATE TABLE`` for the rebuilt table: the legacy columns as declared, plus tenant_id."""
    cols = ['"tenant_id" CHAR(32) NOT NULL']
    for _cid, name, decl, notnull, default, pk, hidden in conn.exec_driver_sql(
        f"PRAGMA table_xinfo({_q(plan.name)})"
    ):
        if hidden:
            raise TenantizeError(f"{plan.name}.{name}: generated columns are not supported")
        parts = [_q(name), decl or ""]
        if notnull or pk:
            parts.append("NOT NULL")
        if default is not None:
            parts.append(f"DEFAULT {default_sql(default)}")
        cols.append(" ".join(p for p in parts if p))
    pk = ", ".join(_q(c) for c in ["tenant_id", *plan.primary_key])
    cols.append(f"CONSTRAINT {_q('pk_' + plan.name)} PRIMARY KEY ({pk})")
    cols.append(
        f"CONSTRAINT {_q(index_name('fk', plan.name, ['tenant_id', 'tenantry_tenants']))} "
        'FOREIGN KEY ("tenant_id") REFERENCES "tenantry_tenants" ("id") ON DELETE CASCADE'
    )
    cols += [c for c in (_fk_clause(plan.name, r) for r in plan.refs) if c]
    return f"CREATE TABLE {_q(new_name)} (\n  " + ",\n  ".join(cols) + "\n)"


def _actions(ref: RefPlan, composite: bool) -> str:
    out = ""
    for word, action in (("DELETE", ref.ondelete), ("UPDATE", ref.onupdate)):
        if not action or action.upper() == "NO ACTION":
            continue
        if composite and action.upper().startswith("SET"):
            continue  # would null tenant_id too; SQLite has no SET NULL (col)
        out += f" ON {word} {action}"
    return out


def _fk_clause(table: str, ref: RefPlan) -> str | None:
    cols = [c for c in ref.column.split(",")]
    if ref.fk == "composite":
        name = index_name("fk", table, ["tenant_id", ref.column, ref.table])
        return (
            f'CONSTRAINT {_q(name)} FOREIGN KEY ("tenant_id", {_q(ref.column)}) '
            f'REFERENCES {_q(ref.table)} ("tenant_id", {_q(ref.key)})' + _actions(ref, True)
        )
    if ref.fk == "users":
        name = index_name("fk", table, [ref.column, "tenantry_users"])
        return (
            f"CONSTRAINT {_q(name)} FOREIGN KEY ({_q(ref.column)}) "
            'REFERENCES "tenantry_users" ("id")' + _actions(ref, False)
        )
    if ref.fk == "keep":
        # Named as the models' naming convention names it (and as on PostgreSQL): a
        # migration that later makes it tenant-safe can drop it by name.
        keys = ref.key.split(",")
        name = index_name("fk", table, [*cols, ref.table])
        return (
            f"CONSTRAINT {_q(name)} FOREIGN KEY ({', '.join(map(_q, cols))}) "
            f"REFERENCES {_q(ref.table)} "
            f"({', '.join(map(_q, keys))})" + _actions(ref, False)
        )
    return None


def convert_table(
    engine: Engine,
    whole: Plan,
    plan: TablePlan,
    expr: str,
    params: dict[str, Any],
    reporter: Reporter,
) -> None:
    """Copy ``plan.name`` into its tenant-aware form and swap it in; resumable."""
    name = plan.name
    if _done(engine, f"table:{name}"):
        return
    new = f"{name}__tenantize"
    copy_step = f"copy:{name}"
    with engine.begin() as conn:
        found = state.get(conn, copy_step)
        if found is None or "after" not in found[1]:
            # Not started, or started by a tenantry that copied rowid ranges above 0
            # ({last, max, copied}): its rows are dropped with its table and copied again.
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_q(new)}")
            conn.exec_driver_sql(new_table_ddl(conn, plan, new))
            top = conn.exec_driver_sql(f"SELECT max(rowid) FROM {_q(name)}").scalar()
            # after: the last rowid copied (None: none yet); max: the largest there was,
            # so rows written since are left for the swap's count check to find.
            info: dict[str, Any] = {"after": None, "max": top, "copied": 0}
            state.put(conn, copy_step, "running", info)
        else:
            info = found[1]
        lookup_indexes(conn, whole, [name])
    faults.checkpoint(f"created {new}")
    columns = [r[1] for r in _xinfo(engine, name)]
    target = ", ".join(_q(c) for c in ["tenant_id", *columns])
    source = ", ".join(f"t.{_q(c)}" for c in columns)
    insert = f"INSERT INTO {_q(new)} ({target}) SELECT {expr}, {source} FROM {_q(name)} t WHERE "
    task = reporter.task(f"copy {name}", plan.rows)
    task.advance(int(info["copied"]))
    while True:
        with engine.begin() as conn:
            after = info["after"]
            hi = _batch_end(conn, name, after, info["max"])
            if hi is None:
                break
            lower = "" if after is None else "t.rowid > :lo AND "
            statement = text(insert + lower + "t.rowid <= :hi")
            try:
                copied = conn.execute(statement, {**params, "lo": after, "hi": hi}).rowcount
            except Exception as exc:
                if "NOT NULL" in str(exc) and "tenant_id" in str(exc):
                    raise TenantizeError(
                        f"{name}: some rows have no tenant and their problem's policy is "
                        "'fail'; run the dry run and give the problem a policy"
                    ) from None
                raise
            info = {**info, "after": hi, "copied": int(info["copied"]) + copied}
            state.put(conn, copy_step, "running", info)
            faults.checkpoint(f"copy {name} batch (uncommitted)")
        faults.checkpoint(f"copy {name} batch")
        task.advance(copied)
    task.finish()
    with engine.begin() as conn:
        _swap(conn, plan, new)
        state.put(conn, copy_step, "done", info)
        state.put(conn, f"table:{name}", "done", {"rows": info["copied"]})
        faults.checkpoint(f"swap {name} (uncommitted)")
    faults.checkpoint(f"swap {name}")


def _batch_end(conn: Connection, name: str, after: int | None, top: int | None) -> int | None:
    """The last rowid of the next batch: the BATCH-th rowid after ``after`` (from the
    smallest, negative ones included, when ``None``) and at most ``top``, the largest
    when the copy began; ``None`` once every row is copied.

    Batches follow the rows, not rowid ranges: a table with ids 1 and 2**53 is two rows,
    not 180 billion empty ranges of 50,000.
    """
    if top is None:  # the table was empty
        return None
    lower = "" if after is None else "rowid > :after AND "
    found = conn.execute(
        text(
            f"SELECT max(r) FROM (SELECT rowid AS r FROM {_q(name)} "
            f"WHERE {lower}rowid <= :top ORDER BY rowid LIMIT {BATCH})"
        ),
        {"after": after, "top": top},
    ).scalar()
    return None if found is None else int(found)


def _swap(conn: Connection, plan: TablePlan, new: str) -> None:
    name = plan.name
    old = int(conn.exec_driver_sql(f"SELECT count(*) FROM {_q(name)}").scalar() or 0)
    copied = int(conn.exec_driver_sql(f"SELECT count(*) FROM {_q(new)}").scalar() or 0)
    if old != copied:
        raise StuckConversion(
            f"{name}: {old} rows now, {copied} copied; nothing was swapped: rows of {name} "
            f"were written during the conversion, which cannot take them in. {WAY_OUT}"
        )
    objects = conn.execute(
        text(
            "SELECT type, sql FROM sqlite_master WHERE tbl_name = :t AND type IN "
            "('index', 'trigger') AND sql IS NOT NULL"
        ),
        {"t": name},
    ).all()
    uniques = [
        (ix_name, [r[2] for r in conn.exec_driver_sql(f"PRAGMA index_info({_q(ix_name)})")])
        for _seq, ix_name, _unique, origin, _partial in conn.exec_driver_sql(
            f"PRAGMA index_list({_q(name)})"
        )
        if origin == "u"
    ]
    _drop_copied(conn, name)
    conn.exec_driver_sql(f"ALTER TABLE {_q(new)} RENAME TO {_q(name)}")
    for _type, sql in sorted(objects, key=lambda o: o[0] != "index"):
        conn.exec_driver_sql(sql)
    for _ix, cols in uniques:
        conn.exec_driver_sql(
            f"CREATE UNIQUE INDEX {_q(index_name('uq', name, cols))} ON {_q(name)} "
            f"({', '.join(map(_q, cols))})"
        )
    for ix_name, cols in plan.indexes:
        conn.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {_q(ix_name)} ON {_q(name)} "
            + plan.index_definition(ix_name, cols, _q)
        )
    if plan.needs_unique_key:
        keys = plan.primary_key
        conn.exec_driver_sql(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {_q(index_name('uq', name, keys))} "
            f"ON {_q(name)} ({', '.join(map(_q, keys))})"
        )


def _drop_copied(conn: Connection, name: str) -> None:
    """Drop the legacy table whose every row now lives in its rebuilt copy.

    Without zeroing its pages: SQLite built with ``SECURE_DELETE`` (Debian's is) would
    overwrite, and journal, the whole table once more, the largest write of the swap
    (~6 % of a 825k-row table's conversion here), to erase nothing the copy does not
    hold. The connection's setting is restored for every other delete.
    """
    secure = int(conn.exec_driver_sql("PRAGMA secure_delete").scalar() or 0)
    conn.exec_driver_sql("PRAGMA secure_delete = 0")
    try:
        conn.exec_driver_sql(f"DROP TABLE {_q(name)}")
    finally:
        conn.exec_driver_sql(f"PRAGMA secure_delete = {secure}")


def _xinfo(engine: Engine, name: str) -> list[Any]:
    with engine.connect() as conn:
        source = name
        rows = list(conn.exec_driver_sql(f"PRAGMA table_xinfo({_q(source)})"))
        conn.rollback()
    return rows


def _done(engine: Engine, step: str) -> bool:
    with engine.connect() as conn:
        result = state.done(conn, step)
        conn.rollback()
    return result


def foreign_key_problems(conn: Connection) -> list[str]:
    """``PRAGMA foreign_key_check``, as readable lines."""
    return [
        f"{table} rowid {rowid} -> {parent}"
        for table, rowid, parent in broken_references(conn)
        if not table.startswith("tenantry_")
    ]
