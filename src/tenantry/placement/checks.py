"""``doctor`` for placements: every tenant database checked as the control database is.

For each placement: no move left half way, no copy of the tenant outside it (an
interrupted move's), the dedicated database reachable, at the control database's
revision, holding its own tenant's row and no other tenant's rows, and its schema
passing the isolation doctor (tenant_id, keys, forced RLS on PostgreSQL).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Uuid, bindparam, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from tenantry.db import make_engine
from tenantry.models.placement import PlacementKind, PlacementState, TenantPlacement
from tenantry.placement.config import PlacementConfig, PlacementConfigError
from tenantry.placement.location import Location, tenant_of_database
from tenantry.placement.strays import stray_copies
from tenantry.rls.policy import TENANT_COLUMN, is_control_plane


@dataclass(frozen=True, slots=True)
class PlacementCheck:
    tenant_id: uuid.UUID
    location: Location
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _revisions(conn: Connection) -> set[str]:
    try:
        return {str(r) for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
    except SQLAlchemyError:
        return set()


def _foreign_rows(conn: Connection, tenant_id: uuid.UUID) -> dict[str, int]:
    """Rows of other tenants in the database's tenant tables (there must be none)."""
    from sqlalchemy import inspect as sa_inspect

    found: dict[str, int] = {}
    q = conn.dialect.identifier_preparer.quote
    for table in sa_inspect(conn).get_table_names():
        if is_control_plane(table) or table == "alembic_version":
            continue
        columns = {c["name"] for c in sa_inspect(conn).get_columns(table)}
        if TENANT_COLUMN not in columns:
            continue
        sql = text(f"SELECT count(*) FROM {q(table)} WHERE {q(TENANT_COLUMN)} <> :t").bindparams(
            bindparam("t", type_=Uuid())
        )
        count = int(conn.execute(sql, {"t": tenant_id}).scalar_one())
        if count:
            found[table] = count
    return found


def check_placements(
    config: PlacementConfig,
    control: Engine,
    *,
    models: Mapping[str, Iterable[str]] | None = None,
) -> list[PlacementCheck]:
    """Check every placement recorded in ``control``, one result per placement row; and one
    per database left over from a purged tenant."""
    with Session(control) as session:
        rows = session.scalars(select(TenantPlacement)).all()
        heads = _revisions(session.connection())
    results: list[PlacementCheck] = []
    for placement in rows:
        tenant_id = placement.tenant_id
        location = Location(placement.kind, placement.server, placement.database)
        problems: list[str] = []
        if placement.state != PlacementState.ACTIVE.value:
            problems.append(
                "a move was interrupted (the tenant is read-only): run `tenantry tenants move` "
                "again to finish it"
            )
        if placement.leftover:
            problems.append(
                f"an old copy ({Location.from_dict(placement.leftover).describe()}) is still to "
                "be removed: run `tenantry tenants move` again"
            )
        if placement.kind == PlacementKind.DEDICATED.value:
            problems += _check_dedicated(config, location, tenant_id, heads, models)
        if placement.state == PlacementState.ACTIVE.value and not placement.leftover:
            problems += _strays(config, control, tenant_id, location)
        results.append(PlacementCheck(tenant_id, location, tuple(problems)))
    from tenantry.placement.purge import orphans  # purge imports the retention module

    for location in orphans(config, control).dropped:
        problem = (
            "its tenant was purged and this database is left over (a drop that failed): run "
            "`tenantry tenants purge --placements FILE` to drop it"
        )
        gone = tenant_of_database(location.database or "")
        assert gone is not None  # orphans are found by their name
        results.append(PlacementCheck(gone, location, (problem,)))
    return results


def _strays(
    config: PlacementConfig, control: Engine, tenant_id: uuid.UUID, location: Location
) -> list[str]:
    try:
        strays = stray_copies(config, control, tenant_id, location)
    except Exception as exc:  # any driver's error: a server that cannot be asked
        return [f"cannot look for copies outside its placement: {type(exc).__name__}"]
    where = f"--to {location.kind}"
    if location.server:
        where += f" --server {location.server}"
    return [
        f"a copy outside its placement, left by an interrupted move: {stray.describe()}: "
        f"run `tenantry tenants move <tenant> {where}` to remove it"
        for stray in strays
    ]


def _check_dedicated(
    config: PlacementConfig,
    location: Location,
    tenant_id: uuid.UUID,
    heads: set[str],
    models: Mapping[str, Iterable[str]] | None,
) -> list[str]:
    from tenantry.doctor import diagnose

    try:
        server = config.server(location.server or "")
    except PlacementConfigError as exc:
        return [exc.message]
    problems: list[str] = []
    url = server.database_url(location.database or "", role="migration")
    if server.is_sqlite and not server.directory.joinpath(f"{location.database}.sqlite3").exists():
        return [f"its database file is missing: {make_url(url).database}"]
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            revisions = _revisions(conn)
            if revisions != heads:
                problems.append(
                    f"at revision {sorted(revisions) or 'none'}, the control database at "
                    f"{sorted(heads)}: run `tenantry migrate --placements …`"
                )
            tenants = conn.execute(text("SELECT id FROM tenantry_tenants")).scalars().all()
            if [str(t).replace("-", "") for t in tenants] != [tenant_id.hex]:
                problems.append(f"tenantry_tenants holds {len(tenants)} row(s), not its own only")
        # Rows of other tenants: only a role that sees past RLS can count them.
        audit_url = url
        if not server.is_sqlite and server.admin_url:
            audit_url = (
                make_url(server.admin_url)
                .set(database=location.database)
                .render_as_string(hide_password=False)
            )
        if server.is_sqlite or server.admin_url:
            auditor = make_engine(audit_url, poolclass=NullPool)
            try:
                with auditor.connect() as conn:
                    for table, count in _foreign_rows(conn, tenant_id).items():
                        problems.append(f"{table} holds {count} row(s) of other tenants")
            finally:
                auditor.dispose()
        report = diagnose(engine, app_role=server.app_role, models=models)
        problems += [str(f) for f in report.findings]
    except SQLAlchemyError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        problems.append(f"cannot read its database: {first}")
    finally:
        engine.dispose()
    return problems
