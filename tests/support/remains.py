"""What the databases still hold of one tenant: a row count per table, RLS included."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import Table, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tenantry.models import Base
from tenantry.placement.move import current_location
from tenantry.rls import is_control_plane


def placed_url(app: FastAPI, tenant_id: uuid.UUID) -> str | None:
    """The URL of the tenant's own database (``TENANTRY_TEST_PLACEMENT=dedicated``), or
    None when its rows are in the shared tables. Ask before a purge: it forgets the place."""
    placements = app.state.tenancy.placements
    if placements is None:
        return None
    location, _state = current_location(placements, tenant_id)
    return None if location.is_shared else placements.url_of(location)


def tenant_rows(url: str, tenant_id: uuid.UUID, *, placed: str | None = None) -> dict[str, int]:
    """Rows naming ``tenant_id`` in every mapped table with a ``tenant_id`` column.

    Control tables are counted in ``url``; the tenant's own tables there too, or in
    ``placed`` (:func:`placed_url`), where a database dropped since counts nothing.
    On PostgreSQL the transaction claims the tenant (``app.tenant_id``), so the
    policy of each tenant table shows its rows: nothing is hidden from the count.
    """
    tables = [t for t in Base.metadata.sorted_tables if "tenant_id" in t.c]
    control = [t for t in tables if placed is None or is_control_plane(t.name)]
    counts = _count(url, tenant_id, control)
    if placed is not None:
        own = [t for t in tables if not is_control_plane(t.name)]
        counts |= (
            _count(placed, tenant_id, own)
            if _exists(placed)
            else dict.fromkeys((t.name for t in own), 0)
        )
    return counts


def _exists(url: str) -> bool:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return Path(parsed.database or "").exists()
    engine = create_engine(url)
    try:
        with engine.connect():
            return True
    except OperationalError as exc:
        if "does not exist" in str(exc):
            return False
        raise
    finally:
        engine.dispose()


def _count(url: str, tenant_id: uuid.UUID, tables: Sequence[Table]) -> dict[str, int]:
    engine = create_engine(url)
    counts: dict[str, int] = {}
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)}
                )
            for table in tables:
                query = select(func.count()).where(table.c.tenant_id == tenant_id)
                counts[table.name] = conn.execute(query).scalar_one()
    finally:
        engine.dispose()
    return counts
