"""Streaming export of one tenant's data as JSON, in constant memory."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Table, select
from sqlalchemy.orm import Mapper, Session

from tenantry.errors import TenantNotFound
from tenantry.models import Base, Membership, Tenant, User, is_tenant_scoped

BATCH = 1000


def _default(value: Any) -> Any:
    # orjson writes UUIDs, dates and datetimes itself; money stays exact as a string.
    if isinstance(value, Decimal):
        return str(value)
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


def _batches(session: Session, mapper: Mapper[Any]) -> Iterator[list[dict[str, Any]]]:
    """The table's rows (without ``tenant_id``) as dicts, ``BATCH`` at a time."""
    table = _table(mapper)
    columns = [c for c in mapper.columns if c.key != "tenant_id" and c.table is table]
    keys = [mapper.get_property_by_column(c).key for c in columns]
    stmt = select(*[getattr(mapper.class_, key) for key in keys])
    result = session.execute(stmt.execution_options(yield_per=BATCH))
    for rows in result.partitions():
        yield [dict(zip(keys, row, strict=True)) for row in rows]


def _array(batches: Iterator[list[dict[str, Any]]], counter: list[int]) -> Iterator[bytes]:
    """``[row,row,…]``, one chunk per batch; ``counter[0]`` ends as the row count."""
    yield b"["
    for batch in batches:
        # One orjson call per batch; its brackets are dropped to splice batches together.
        yield (b"," if counter[0] else b"") + _dumps(batch)[1:-1]
        counter[0] += len(batch)
    yield b"]"


def stream_export(session: Session, tenant_id: uuid.UUID) -> Iterator[bytes]:
    """Yield the export document in chunks: tenant, members, every tenant table, counts.

    ``session`` must be scoped to ``tenant_id`` (entered with ``tenant_scope``);
    ``tenantry.web.streaming.export_download`` does that for a response.
    """
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise TenantNotFound("tenant not found")
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
        .where(Membership.tenant_id == tenant_id)
    )
    member_list = [
        {"user_id": u, "email": e, "display_name": d, "role": r, "joined_at": j}
        for u, e, d, r, j in members
    ]
    yield b',"members":' + _dumps(member_list) + b',"tables":{'
    counts: dict[str, int] = {}
    for i, mapper in enumerate(tenant_mappers()):
        name = str(_table(mapper).name)
        counter = [0]
        yield (b"," if i else b"") + _dumps(name) + b":"
        yield from _array(_batches(session, mapper), counter)
        counts[name] = counter[0]
    summary = {"members": len(member_list), "rows": counts, "total_rows": sum(counts.values())}
    yield b'},"summary":' + _dumps(summary) + b"}"
