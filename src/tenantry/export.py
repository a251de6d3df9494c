"""Streaming export of one tenant's data as JSON, in constant memory.

The document (``tenantry-export/1``)::

    {"format", "schema": {"revisions", "tables": {table: [field, …]}},
     "tenant": {…}, "members": [{user_id, email, display_name, role, joined_at}],
     "people": [{user_id, email, display_name}],
     "tables": {table: [row, …]},
     "summary": {"members", "rows": {table: n}, "total_rows", "checksums": {table: hex}}}

``people`` are the accounts the rows name (a user reference, such as an author) that
are not members: former members, say. The import gives them their accounts there, so
the rows keep naming them. Rows are in primary key order; a table's checksum is the
BLAKE2b of its JSON array as written, so ``tenantry.tenant_import`` can tell a complete,
unedited document and verify what it stored.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Table, inspect, select, text
from sqlalchemy.orm import Mapper, Session

from tenantry.errors import TenantNotFound, TenantryError
from tenantry.models import Base, Membership, Tenant, User, is_tenant_scoped
from tenantry.rls.policy import TENANT_COLUMN, is_control_plane
from tenantry.scoping import tenant_table_rows

BATCH = 1000
FORMAT = "tenantry-export/1"


def _default(value: Any) -> Any:
    # orjson writes UUIDs, dates and datetimes itself; money stays exact as a string.
    if isinstance(value, Decimal):
        return str(value)
    # A binary column as base64 text, an interval in seconds (tenantry.tenant_import reads
    # both back): orjson writes neither, and an export stopped at the first such row.
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, timedelta):
        return value.total_seconds()
    raise TypeError(type(value).__name__)


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default)


def table_of(mapper: Mapper[Any]) -> Table:
    table = mapper.local_table
    assert isinstance(table, Table)
    return table


def tenant_mappers() -> list[Mapper[Any]]:
    """Every mapped tenant-owned class, in a stable order: what an export contains."""
    return sorted(
        (m for m in Base.registry.mappers if is_tenant_scoped(m.class_)),
        key=lambda m: table_of(m).name,
    )


def stored_mappers(session: Session) -> list[Mapper[Any]]:
    """The tenant tables mapped here that ``session``'s database has, in export order.

    A process may map tables its database never got (the bundled server's models
    beside an app of your own): they hold no rows, and reading them failed the export.
    """
    stored = []
    for mapper in tenant_mappers():
        table = table_of(mapper)
        connection = session.connection(bind_arguments={"mapper": mapper})
        if inspect(connection).has_table(table.name, schema=table.schema):
            stored.append(mapper)
    return stored


def fields(mapper: Mapper[Any]) -> list[str]:
    """The attribute names a table's rows have in the document (``tenant_id`` left out)."""
    table = table_of(mapper)
    columns = [c for c in mapper.columns if c.key != "tenant_id" and c.table is table]
    return [mapper.get_property_by_column(c).key for c in columns]


def key_ordered_batches(session: Session, mapper: Mapper[Any]) -> Iterator[list[dict[str, Any]]]:
    """The session's tenant's rows of a table (without ``tenant_id``) as dicts, in key order,
    ``BATCH`` at a time (:func:`tenantry.scoping.tenant_table_rows`)."""
    keys = fields(mapper)
    order = [c for c in table_of(mapper).primary_key.columns if c.key != "tenant_id"]
    for rows in tenant_table_rows(session, mapper, keys, order, yield_per=BATCH).partitions():
        yield [dict(zip(keys, row, strict=True)) for row in rows]


class ArrayWriter:
    """Writes rows as one JSON array in chunks, counting them and hashing what it wrote."""

    def __init__(self) -> None:
        self.count = 0
        self._digest = hashlib.blake2b(digest_size=16)

    def chunk(self, rows: list[dict[str, Any]]) -> bytes:
        # One orjson call per batch; its brackets are dropped to splice batches together.
        body = (b"," if self.count else b"") + _dumps(rows)[1:-1]
        self._digest.update(body)
        self.count += len(rows)
        return body

    @property
    def checksum(self) -> str:
        return self._digest.hexdigest()


def schema_revisions(session: Session) -> list[str]:
    """The database's Alembic revisions (none when it was not made by migrations)."""
    connection = session.connection()
    if not inspect(connection).has_table("alembic_version"):
        return []
    return sorted(session.scalars(text("SELECT version_num FROM alembic_version")))


class ExportIncomplete(TenantryError):
    """The database holds tenant tables that no loaded model maps: an export would leave
    their rows out of a document that says it holds the tenant's data."""

    code = "export_incomplete"
    status = 503  # the instance's fault, not the caller's: said, and nothing sent


def unmapped_tenant_tables(session: Session) -> list[str]:
    """Tables with a ``tenant_id`` column (tenantry's own aside) that no loaded model maps."""
    mapped = {table_of(m).name for m in tenant_mappers()}
    columns = inspect(session.connection()).get_multi_columns()  # one query, every table
    return sorted(
        name
        for (_schema, name), found in columns.items()
        if name not in mapped
        and not is_control_plane(name)
        and TENANT_COLUMN in {c["name"] for c in found}
    )


def check_all_mapped(session: Session) -> None:
    """Refuse an export that would leave tables out (:func:`unmapped_tenant_tables`).

    Raises:
        ExportIncomplete: naming the tables.
    """
    unmapped = unmapped_tenant_tables(session)
    if unmapped:
        raise ExportIncomplete(
            f"the database has tenant tables no loaded model maps: {', '.join(unmapped)}; "
            "their rows would be left out of the export, so nothing was exported"
        )


def user_columns(mapper: Mapper[Any]) -> list[str]:
    """Attributes of ``mapper`` holding a user id (a foreign key to the users table)."""
    table = table_of(mapper)
    return [
        mapper.get_property_by_column(c).key
        for c in table.columns
        if any(fk.column.table is User.__table__ for fk in c.foreign_keys)
    ]


def _people_named(
    session: Session, mappers: list[Mapper[Any]], members: set[int]
) -> list[dict[str, Any]]:
    """The accounts the tenant's rows name that are not its members (an erased account's
    placeholder too: its address is random, and the rows still name it)."""
    named: set[int] = set()
    for mapper in mappers:
        for key in user_columns(mapper):
            column = getattr(mapper.class_, key)
            named.update(session.scalars(select(column).where(column.is_not(None)).distinct()))
    others = sorted(named - members)
    if not others:
        return []
    users = session.execute(
        select(User.id, User.email, User.display_name).where(User.id.in_(others)).order_by(User.id)
    )
    return [{"user_id": u, "email": e, "display_name": d} for u, e, d in users]


def stream_export(session: Session, tenant_id: uuid.UUID) -> Iterator[bytes]:
    """Yield the export document in chunks: tenant, members, every tenant table, counts.

    ``session`` must be scoped to ``tenant_id`` (entered with ``tenant_scope``);
    ``tenantry.web.streaming.export_download`` does that for a response.
    """
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise TenantNotFound("tenant not found")
    mappers = stored_mappers(session)
    schema = {
        "revisions": schema_revisions(session),
        "tables": {str(table_of(m).name): fields(m) for m in mappers},
    }
    head = {
        "id": tenant.id,
        "slug": tenant.slug,
        "name": tenant.name,
        "kind": tenant.kind,
        "plan": tenant.plan,
        "settings": tenant.settings,
        "created_at": tenant.created_at,
    }
    # No export time in the document: exporting unchanged data gives the same bytes.
    yield (
        b'{"format":'
        + _dumps(FORMAT)
        + b',"schema":'
        + _dumps(schema)
        + b',"tenant":'
        + _dumps(head)
    )
    members = session.execute(
        select(User.id, User.email, User.display_name, Membership.role, Membership.joined_at)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant_id)
        .order_by(User.email)
    )
    member_list: list[dict[str, Any]] = [
        {"user_id": u, "email": e, "display_name": d, "role": r, "joined_at": j}
        for u, e, d, r, j in members
    ]
    people = _people_named(session, mappers, {m["user_id"] for m in member_list})
    yield b',"members":' + _dumps(member_list) + b',"people":' + _dumps(people) + b',"tables":{'
    counts: dict[str, int] = {}
    checksums: dict[str, str] = {}
    for i, mapper in enumerate(mappers):
        name = str(table_of(mapper).name)
        writer = ArrayWriter()
        yield (b"," if i else b"") + _dumps(name) + b":["
        for batch in key_ordered_batches(session, mapper):
            yield writer.chunk(batch)
        yield b"]"
        counts[name] = writer.count
        checksums[name] = writer.checksum
    summary = {
        "members": len(member_list),
        "rows": counts,
        "total_rows": sum(counts.values()),
        "checksums": checksums,
    }
    yield b'},"summary":' + _dumps(summary) + b"}"
