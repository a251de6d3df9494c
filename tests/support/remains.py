"""What a database still holds of one tenant: a row count per table, RLS included."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, func, select, text

from tenantry.models import Base


def tenant_rows(url: str, tenant_id: uuid.UUID) -> dict[str, int]:
    """Rows naming ``tenant_id`` in every mapped table with a ``tenant_id`` column.

    On PostgreSQL the transaction claims the tenant (``app.tenant_id``), so the
    policy of each tenant table shows its rows: nothing is hidden from the count.
    """
    engine = create_engine(url)
    counts: dict[str, int] = {}
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)}
                )
            for table in Base.metadata.sorted_tables:
                if "tenant_id" in table.c:
                    query = select(func.count()).where(table.c.tenant_id == tenant_id)
                    counts[table.name] = conn.execute(query).scalar_one()
    finally:
        engine.dispose()
    return counts
