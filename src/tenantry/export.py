"""Streaming export of one tenant's data as JSON, in constant memory."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Table, select
from sqlalchemy.orm import Mapper, Session

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.models import Base, Membership, Tenant, User, is_tenant_scoped

BATCH = 1000


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default)


def _table(mapper: Mapper[Any]) -> Table:
    table = mapper.local_table
    assert isinstance(table, Table)
    return table


def tenant_mappers() -> list[Mapper[Any]]:
    """Every mapped tenant-owned class, in a stable order: what an export contains."""
    return sorted(
        (m for m in Base.registry.mappers if is_tenant_scoped(m.class_)),
        key=lambda m: _table(m).name,
    )


def _rows(session: Session, mapper: Mapper[Any]) -> Iterator[dict[str, Any]]:
    table = _table(mapper)
    columns = [c for c in mapper.columns if c.key != "tenant_id" and c.table is table]
    keys = [mapper.get_property_by_column(c).key for c in columns]
    stmt = select(*[getattr(mapper.class_, key) for key in keys])
    result = session.execute(stmt.execution_options(yield_per=BATCH))
    for row in result:
        yield dict(zip(keys, row, strict=True))


def stream_export(db: Database, ctx: TenantContext) -> Iterator[bytes]:
    """Yield the export document in chunks: tenant, members, every tenant table, counts.

    Runs in its own session inside ``tenant_scope(ctx)``: a streaming response
    outlives the request's session, and threads do not inherit the context.
    """
    with tenant_scope(ctx), db.sessions() as session:
        tenant = session.get(Tenant, ctx.tenant_id)
        assert tenant is not None
        head = {
            "id": tenant.id,
            "slug": tenant.slug,
            "name": tenant.name,
            "kind": tenant.kind,
            "plan": tenant.plan,
            "created_at": tenant.created_at,
        }
        yield b'{"format":"tenantry-export/1","tenant":' + _dumps(head)
        members = session.execute(
            select(User.id, User.email, User.display_name, Membership.role, Membership.joined_at)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.tenant_id == ctx.tenant_id)
        )
        member_list = [
            {"user_id": u, "email": e, "display_name": d, "role": r, "joined_at": j}
            for u, e, d, r, j in members
        ]
        yield b',"members":' + _dumps(member_list) + b',"tables":{'
        counts: dict[str, int] = {}
        for i, mapper in enumerate(tenant_mappers()):
            name = str(_table(mapper).name)
            yield (b"," if i else b"") + _dumps(name) + b":["
            count = 0
            buffer: list[bytes] = []
            for row in _rows(session, mapper):
                buffer.append(_dumps(row))
                count += 1
                if len(buffer) >= BATCH:
                    yield (b"," if count > len(buffer) else b"") + b",".join(buffer)
                    buffer.clear()
            if buffer:
                yield (b"," if count > len(buffer) else b"") + b",".join(buffer)
            yield b"]"
            counts[name] = count
        summary = {"members": len(member_list), "rows": counts, "total_rows": sum(counts.values())}
        yield b'},"summary":' + _dumps(summary) + b"}"
