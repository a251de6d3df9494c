"""Move a tenant between the shared tables and a database of its own, crash-safe.

The steps, each safe to interrupt (``kill -9`` included):

1. **provision** the target (database, schema, the tenant's row) while the
   tenant is still writable;
2. **mark** the placement ``moving``: writes are refused from now on (423
   ``tenant_read_only``), reads go on from the source;
3. **drain**: take the tenant's write barrier on the source once, so every
   write that passed its check before the mark has committed;
4. **clear** whatever an interrupted earlier copy left in the target, then
   **copy** every tenant table in foreign-key order, in batches;
5. **verify**: row counts and checksums of both copies, table by table
   (:func:`tenantry.migrate.checksum.table_checksum`, as tenantize verifies);
6. **switch**: one control-database transaction points the placement at the
   target, makes it active and records the source as ``leftover``;
7. **clean**: remove the source's rows (shared) or drop its database (once the
   requests still using it are done), then forget the leftover.

Until step 6 commits the tenant is served from the complete, unchanged source;
from then on from the verified target. A rerun of the same move resumes: it
clears and copies again before the switch, or finishes the cleaning after it.
A failure before the switch ends the move (the tenant is writable again at the
source). Copies are raw rows between databases of one backend, exact to the
byte; moves between SQLite and PostgreSQL are refused (export and import).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, inspect, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tenantry.db import make_engine
from tenantry.errors import TenantryError
from tenantry.migrate.checksum import table_checksum
from tenantry.models import Tenant, User
from tenantry.models.placement import PlacementKind, PlacementState, TenantPlacement
from tenantry.placement import provision
from tenantry.placement.location import Location
from tenantry.placement.policy import choose
from tenantry.placement.router import Placements, barrier_key
from tenantry.placement.strays import Stray, stray_copies
from tenantry.placement.tables import TenantTable, enter_tenant, tenant_tables
from tenantry.rls.policy import TENANT_COLUMN

log = logging.getLogger("tenantry.placement")

BATCH = 20_000
Step = Callable[[str], None]


class MoveFailed(TenantryError):
    """A move could not be done; the tenant is still served from where it was."""

    code = "move_failed"
    status = 409


@dataclass(slots=True)
class MoveReport:
    """What a move did: where from and to, rows per table, and how long writes waited."""

    tenant_id: uuid.UUID
    source: Location
    target: Location
    rows: dict[str, int] = field(default_factory=dict)
    read_only_seconds: float = 0.0
    copy_seconds: float = 0.0
    resumed: bool = False
    already_there: bool = False
    # Copies removed because nothing served them (an interrupted move's partial copy).
    cleared: list[Stray] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.copy_seconds if self.copy_seconds else 0.0


def _url(placements: Placements, location: Location) -> str:
    # The runtime role is enough: rows only, as the tenant (RLS allows its own rows).
    return placements.url_of(location)


def _backend(url: str) -> str:
    return make_url(url).get_backend_name()


@contextmanager
def _engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


def _param(conn: Connection) -> str:
    return "?" if conn.dialect.name == "sqlite" else "%s"


def _tenant_value(conn: Connection, tenant_id: uuid.UUID) -> Any:
    return tenant_id.hex if conn.dialect.name == "sqlite" else tenant_id


def _user_columns(conn: Connection, table: str) -> list[str]:
    return [
        fk["constrained_columns"][0]
        for fk in inspect(conn).get_foreign_keys(table)
        if fk["referred_table"] == User.__tablename__ and len(fk["constrained_columns"]) == 1
    ]


def _raw(conn: Connection) -> Any:
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def _copy_table(
    source: Engine,
    target: Engine,
    table: TenantTable,
    tenant_id: uuid.UUID,
    *,
    stubs: bool,
    step: Step,
    batch: int,
) -> int:
    if source.dialect.name == "sqlite":
        return _copy_sqlite(source, target, table, tenant_id, stubs=stubs, step=step, batch=batch)
    q = source.dialect.identifier_preparer.quote
    cols = ", ".join(q(c) for c in table.columns)
    key = ", ".join(q(c) for c in table.key)
    copied = 0
    last: tuple[Any, ...] | None = None
    key_idx = [table.columns.index(c) for c in table.key]
    user_idx: list[int] = []
    if stubs:  # the table's user columns, inspected once, not per batch
        with target.connect() as dst:
            user_idx = [table.columns.index(c) for c in _user_columns(dst, table.name)]
    while True:
        with source.connect() as src:
            enter_tenant(src, tenant_id)
            p = _param(src)
            after = f" AND ({key}) > ({', '.join([p] * len(table.key))})" if last else ""
            sql = (
                f"SELECT {cols} FROM {q(table.name)} WHERE {q(TENANT_COLUMN)} = {p}{after} "
                f"ORDER BY {key} LIMIT {int(batch)}"
            )
            cur = _raw(src)
            cur.execute(sql, (_tenant_value(src, tenant_id), *(last or ())))
            rows = cur.fetchall()
            cur.close()
            src.rollback()
        if not rows:
            return copied
        with target.begin() as dst:
            enter_tenant(dst, tenant_id)
            if stubs:
                provision.ensure_user_stubs(dst, {r[i] for r in rows for i in user_idx})
            p = _param(dst)
            cur = _raw(dst)
            marks = ", ".join([p] * len(table.columns))
            cur.executemany(
                f"INSERT INTO {q(table.name)} ({cols}) VALUES ({marks})", [tuple(r) for r in rows]
            )
            cur.close()
        copied += len(rows)
        last = tuple(rows[-1][i] for i in key_idx)
        step(f"copy:{table.name}:{copied}")


def _copy_sqlite(
    source: Engine,
    target: Engine,
    table: TenantTable,
    tenant_id: uuid.UUID,
    *,
    stubs: bool,
    step: Step,
    batch: int,
) -> int:
    """SQLite to SQLite: the target attaches the source file and copies in SQL, a batch of
    keys per transaction (no row passes through Python: ~30x the generic copy)."""
    q = target.dialect.identifier_preparer.quote
    t, tenant = q(table.name), q(TENANT_COLUMN)
    cols = ", ".join(q(c) for c in table.columns)
    key = ", ".join(q(c) for c in table.key)
    value = tenant_id.hex
    raw = target.raw_connection()  # autocommit (tenantry.sqlite): ATTACH needs no transaction
    try:
        conn: Any = raw.driver_connection
        conn.execute("ATTACH DATABASE ? AS tenantry_source", (source.url.database,))
        try:
            if stubs:
                users = _user_columns_raw(conn, t)
                ids: set[int] = set()
                for column in users:
                    ids |= {
                        r[0]
                        for r in conn.execute(
                            f"SELECT DISTINCT {q(column)} FROM tenantry_source.{t} "
                            f"WHERE {tenant} = ? AND {q(column)} IS NOT NULL",
                            (value,),
                        )
                    }
                if ids:
                    with target.begin() as dst:
                        provision.ensure_user_stubs(dst, ids)
            copied, last = 0, None
            marks = ", ".join("?" for _ in table.key)
            while True:
                after = f" AND ({key}) > ({marks})" if last is not None else ""
                conn.execute("BEGIN IMMEDIATE")
                try:
                    done = conn.execute(
                        f"INSERT INTO main.{t} ({cols}) SELECT {cols} FROM tenantry_source.{t} "
                        f"WHERE {tenant} = ?{after} ORDER BY {key} LIMIT {int(batch)}",
                        (value, *(last or ())),
                    ).rowcount
                    if done > 0:
                        last = conn.execute(
                            f"SELECT {key} FROM main.{t} WHERE {tenant} = ? "
                            f"ORDER BY {', '.join(q(c) + ' DESC' for c in table.key)} LIMIT 1",
                            (value,),
                        ).fetchone()
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                if done <= 0:
                    return copied
                copied += done
                step(f"copy:{table.name}:{copied}")
        finally:
            conn.execute("DETACH DATABASE tenantry_source")
    finally:
        raw.close()


def _user_columns_raw(conn: Any, quoted_table: str) -> list[str]:
    rows = conn.execute(f"PRAGMA foreign_key_list({quoted_table})").fetchall()
    # (id, seq, table, from, to, on_update, on_delete, match)
    return [r[3] for r in rows if r[2] == User.__tablename__]


def _common_tables(source: Engine, target: Engine, tenant_id: uuid.UUID) -> list[TenantTable]:
    """The source's tenant tables that the target has too.

    A table only the source has (another app's, not migrated on the target) is left
    out when it holds none of the tenant's rows; if it holds some, the move stops.
    """
    with source.connect() as conn:
        tables = tenant_tables(conn)
    with target.connect() as conn:
        present = {t.name for t in tenant_tables(conn)}
    missing = [t for t in tables if t.name not in present]
    if missing:
        q = source.dialect.identifier_preparer.quote
        with source.connect() as conn:
            enter_tenant(conn, tenant_id)
            holding = [
                t.name
                for t in missing
                if conn.exec_driver_sql(
                    f"SELECT 1 FROM {q(t.name)} WHERE {q(TENANT_COLUMN)} = {_param(conn)} LIMIT 1",
                    (_tenant_value(conn, tenant_id),),
                ).first()
            ]
        if holding:
            raise MoveFailed(
                f"the target database has no table {', '.join(holding)}, which holds rows "
                "of this tenant: migrate it with the app's migrations first"
            )
    return [t for t in tables if t.name in present]


def _delete_tenant_rows(
    engine: Engine, tables: Sequence[TenantTable], tenant_id: uuid.UUID
) -> None:
    """Remove the tenant's rows of ``tables``, children first, a batch per transaction."""
    q = engine.dialect.identifier_preparer.quote
    for table in reversed(tables):
        while True:
            with engine.begin() as conn:
                enter_tenant(conn, tenant_id)
                p = _param(conn)
                t = q(table.name)
                if len(table.key) == 1:
                    k = q(table.key[0])
                    sql = (
                        f"DELETE FROM {t} WHERE {q(TENANT_COLUMN)} = {p} AND {k} IN "
                        f"(SELECT {k} FROM {t} WHERE {q(TENANT_COLUMN)} = {p} LIMIT {BATCH})"
                    )
                    args: tuple[Any, ...] = (_tenant_value(conn, tenant_id),) * 2
                else:
                    sql = f"DELETE FROM {t} WHERE {q(TENANT_COLUMN)} = {p}"
                    args = (_tenant_value(conn, tenant_id),)
                cur = _raw(conn)
                cur.execute(sql, args)
                deleted = cur.rowcount
                cur.close()
            if len(table.key) != 1 or deleted < BATCH:
                break


def _checksums(
    engine: Engine, tables: Sequence[TenantTable], tenant_id: uuid.UUID
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        enter_tenant(conn, tenant_id)
        where = f"{conn.dialect.identifier_preparer.quote(TENANT_COLUMN)} = {_param(conn)}"
        for table in tables:
            out[table.name] = table_checksum(
                conn,
                table.name,
                table.columns,
                order_by=table.key,
                where=where,
                params=(_tenant_value(conn, tenant_id),),
            )
        conn.rollback()
    return out


def _drain(engine: Engine, tenant_id: uuid.UUID) -> None:
    """Wait for every write of the tenant that began before the mark (its barrier, once)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            key = barrier_key(tenant_id)
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
        else:  # the first statement begins IMMEDIATE: it waits for the writer holding the lock
            conn.execute(text("SELECT 1"))
            conn.commit()


# After the switch, how long requests routed to the old database before it may take to
# connect, and then to finish, before it is dropped (PostgreSQL).
RETIRE_GRACE = 0.25
RETIRE_TIMEOUT = 10.0


def _retire(placements: Placements, location: Location) -> None:
    """Wait for the requests still at the tenant's old database before it goes."""
    if location.is_shared:
        return
    server = placements.config.server(str(location.server))
    if not provision.wait_until_unused(
        server, str(location.database), grace=RETIRE_GRACE, timeout=RETIRE_TIMEOUT
    ):
        log.warning(
            "requests still use %s after %.0f s; dropping it ends them",
            location.describe(),
            RETIRE_TIMEOUT,
        )


def _clean(placements: Placements, location: Location, tenant_id: uuid.UUID) -> None:
    """Remove the tenant's copy at ``location`` (rows of shared tables, or its database)."""
    if location.is_shared:
        with _engine(_url(placements, location)) as engine:
            with engine.connect() as conn:
                tables = tenant_tables(conn)
            _delete_tenant_rows(engine, tables, tenant_id)
        return
    placements.drop_dedicated(location)


def _placement(placements: Placements, tenant_id: uuid.UUID) -> TenantPlacement:
    with placements.control.session() as session:
        if session.get(Tenant, tenant_id) is None:
            raise MoveFailed("no such tenant")
        row = session.get(TenantPlacement, tenant_id)
        if row is None:
            row = TenantPlacement(
                tenant_id=tenant_id,
                kind=PlacementKind.SHARED.value,
                state=PlacementState.ACTIVE.value,
            )
            session.add(row)
            session.flush()
        session.expunge(row)
        return row


def _update(placements: Placements, tenant_id: uuid.UUID, **values: Any) -> None:
    with placements.control.session() as session:
        session.execute(
            update(TenantPlacement).where(TenantPlacement.tenant_id == tenant_id).values(**values)
        )


def move_tenant(
    placements: Placements,
    tenant_id: uuid.UUID,
    *,
    to: str,
    server: str | None = None,
    on_step: Step | None = None,
    batch: int = BATCH,
) -> MoveReport:
    """Move ``tenant_id`` to ``to`` (``shared`` or ``dedicated`` on ``server``/least-loaded).

    Args:
        on_step: called after each step and each copied batch (progress; crash tests).

    Raises:
        MoveFailed: no such tenant, an unknown server, another move in the way, a
            cross-backend move, or a failed verification (then nothing changed).
    """
    step = on_step or (lambda _name: None)
    if to not in (PlacementKind.SHARED.value, PlacementKind.DEDICATED.value):
        raise MoveFailed(f"--to must be 'shared' or 'dedicated', not {to!r}")
    row = _placement(placements, tenant_id)
    current = Location(row.kind, row.server, row.database)
    if row.leftover:  # an earlier move switched and was interrupted while cleaning
        _clean(placements, Location.from_dict(row.leftover), tenant_id)
        _update(placements, tenant_id, leftover=None)
        step("cleaned")
    with placements.control.read_sessions() as session:
        try:
            wanted = choose(session, placements.config, tenant_id, None, kind=to, server=server)
        except TenantryError as exc:
            raise MoveFailed(exc.message) from None
    if row.state == PlacementState.MOVING.value and row.target:
        recorded = Location.from_dict(row.target)
        if server is None and recorded.kind == wanted.kind:
            wanted = recorded  # resume towards the same server the move chose
    elif server is None and wanted.kind == current.kind:
        # "dedicated" with no server names where it is: moving on to the least-loaded server
        # would be a surprise (and the same command is the way to finish a move).
        wanted = current
    report = MoveReport(
        tenant_id, current, wanted, resumed=row.state == PlacementState.MOVING.value
    )
    if wanted == current:
        # Undoing an interrupted move (or a doctor's finding): the copy it was making serves
        # nothing, wherever it is; remove it before the tenant is writable again.
        report.cleared = stray_copies(
            placements.config, placements.control.engine, tenant_id, current
        )
        for stray in report.cleared:
            _clean(placements, stray.location, tenant_id)
        if report.cleared:
            step("cleared")
        if row.state != PlacementState.ACTIVE.value:
            _update(placements, tenant_id, state=PlacementState.ACTIVE.value, target=None)
        report.already_there = True
        return report
    if not current.is_shared and not provision.database_exists(
        placements.config.server(str(current.server)), str(current.database)
    ):
        # Never opened (that would create an empty one) nor copied from: 0 rows would
        # "verify" against 0 and the tenant would be switched to nothing.
        raise MoveFailed(
            f"the tenant's database {_url(placements, current)} does not exist: nothing was "
            "moved; check the placements file's server path (relative paths are relative to "
            "the placements file)"
        )
    source_url, target_url = _url(placements, current), _url(placements, wanted)
    if _backend(source_url) != _backend(target_url):
        raise MoveFailed(
            "moves between SQLite and PostgreSQL are not supported: "
            "use `tenantry tenants export` and `import`"
        )
    if (
        row.state == PlacementState.MOVING.value
        and row.target
        and Location.from_dict(row.target) != wanted
    ):
        _clean(placements, Location.from_dict(row.target), tenant_id)  # an abandoned target
    placements.provision(wanted, tenant_id)
    step("provisioned")
    started = time.perf_counter()
    _update(placements, tenant_id, state=PlacementState.MOVING.value, target=wanted.as_dict())
    step("marked")
    try:
        with _engine(source_url) as source, _engine(target_url) as target:
            _drain(source, tenant_id)
            step("drained")
            tables = _common_tables(source, target, tenant_id)
            _delete_tenant_rows(target, tables, tenant_id)
            step("cleared")
            copy_started = time.perf_counter()
            for table in tables:
                report.rows[table.name] = _copy_table(
                    source,
                    target,
                    table,
                    tenant_id,
                    stubs=not wanted.is_shared,
                    step=step,
                    batch=batch,
                )
            report.copy_seconds = time.perf_counter() - copy_started
            before, after = (
                _checksums(source, tables, tenant_id),
                _checksums(target, tables, tenant_id),
            )
            if before != after:
                wrong = sorted(n for n in before if before[n] != after.get(n))
                raise MoveFailed(f"the copy differs from the original in {', '.join(wrong)}")
            step("verified")
    except BaseException:
        # Before the switch the source is complete and served: writable again, and the
        # partial copy goes (a later move would clear it anyway).
        _update(placements, tenant_id, state=PlacementState.ACTIVE.value, target=None)
        with suppress(Exception):
            _clean(placements, wanted, tenant_id)
        raise
    with placements.control.session() as session:
        switched = session.execute(
            update(TenantPlacement)
            .where(
                TenantPlacement.tenant_id == tenant_id,
                TenantPlacement.state == PlacementState.MOVING.value,
            )
            .values(
                kind=wanted.kind,
                server=wanted.server,
                database=wanted.database,
                state=PlacementState.ACTIVE.value,
                target=None,
                leftover=current.as_dict(),
            )
        )
        if switched.rowcount != 1:  # type: ignore[attr-defined]
            raise MoveFailed("the placement changed during the move; nothing was switched")
    report.read_only_seconds = time.perf_counter() - started
    step("switched")
    _retire(placements, current)
    _clean(placements, current, tenant_id)
    _update(placements, tenant_id, leftover=None)
    step("cleaned")
    return report


def current_location(placements: Placements, tenant_id: uuid.UUID) -> tuple[Location, str]:
    """The placement and state of ``tenant_id`` as the control database has it now."""
    with placements.control.read_sessions() as session:
        return placements.lookup(session, tenant_id)
