"""The route-walking attack, and a switch to prove the other walls hold without the ORM's.

``attack_routes`` walks an app's route table and, for every route that takes
an object id, requests tenant A's objects as tenant B: read, update, delete.
Routes without ids (lists, export) are read as B and searched for A's data.
New routes are attacked without writing new tests.
"""

from __future__ import annotations

import copy
import enum
import itertools
import re
import secrets
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from sqlalchemy import UniqueConstraint, delete, insert, inspect, select
from sqlalchemy.orm import Mapper
from sqlalchemy.schema import sort_tables

from tenantry import scoping
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.export import table_of, tenant_mappers
from tenantry.ids import TenantId
from tenantry.models import Base, Invite, Membership, User, is_tenant_scoped
from tenantry.plans import quotas
from tenantry.roles import Role
from tenantry.web.openapi import api_routes

_MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# The ids nothing has, to ask for beside the victim's.
_MISSING: Mapping[str, object] = {"int": 2**52 + 12345, "uuid": uuid.uuid4(), "str": 2**52 + 12345}


@contextmanager
def scoping_switched_off() -> Iterator[None]:
    """Turn the ORM scoping off process-wide. Tests only: it proves what the other walls hold."""
    scoping._enabled = False
    try:
        yield
    finally:
        scoping._enabled = True


@contextmanager
def quotas_switched_off() -> Iterator[None]:
    """Turn quota enforcement off process-wide. Tests only: it proves a quota walk can fail."""
    quotas._enabled = False
    try:
        yield
    finally:
        quotas._enabled = True


@dataclass
class Victim:
    """What tenant A owns: ids to attack with, strings that must never leak, and a snapshot
    of its rows (a write answered like a missing id's still shows in them)."""

    int_ids: list[int] = field(default_factory=list)
    uuid_ids: list[uuid.UUID] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)
    snapshot: Callable[[], object] | None = field(default=None, repr=False, compare=False)
    # Puts the rows of a snapshot back: a route that changed them must not hide what the
    # routes after it do (their victim ids would be missing ids too).
    restore: Callable[[object], None] | None = field(default=None, repr=False, compare=False)


def collect_victim(db: Database, tenant_id: uuid.UUID, *, markers: Sequence[str] = ()) -> Victim:
    """Every id tenant A owns: tenant-table rows, members, invites; and a snapshot of them."""
    victim = Victim(markers=list(markers))
    # In the victim's own scope, not unscoped(): on PostgreSQL RLS shows tenant
    # rows only to a transaction that has the tenant set.
    ctx = TenantContext(TenantId(tenant_id), None, Role.OWNER)
    with tenant_scope(ctx), db.sessions() as session:
        for mapper in tenant_mappers():
            cls = mapper.class_
            victim.int_ids += list(
                session.scalars(select(cls.id).where(cls.tenant_id == tenant_id))
            )
        victim.int_ids += list(
            session.scalars(select(Membership.user_id).where(Membership.tenant_id == tenant_id))
        )
        victim.uuid_ids += list(
            session.scalars(select(Invite.id).where(Invite.tenant_id == tenant_id))
        )
        shared = _shared_ids(session, victim.int_ids)
        victim.int_ids = [i for i in victim.int_ids if i not in shared]
        session.rollback()
    held = [*tenant_mappers(), inspect(Membership), inspect(Invite)]
    victim.snapshot = lambda: _rows_of(db, ctx, held)
    victim.restore = lambda rows: _restore(db, ctx, held, rows)
    return victim


def _shared_ids(session: Any, ids: Sequence[int]) -> set[int]:
    """Which of ``ids`` are also keys of the app's shared tables (reference data any tenant
    reads): a route answering 200 for one of those tells nothing of the victim, so the
    attack does not use it. Members' ids are small, as a shared table's often are."""
    found: set[int] = set()
    for mapper in Base.registry.mappers:
        table = mapper.local_table
        key = list(mapper.primary_key)
        if (
            is_tenant_scoped(mapper.class_)
            or str(getattr(table, "name", "")).startswith("tenantry_")
            or len(key) != 1
        ):
            continue
        try:
            if key[0].type.python_type is not int:
                continue
        except NotImplementedError:
            continue
        found |= set(session.scalars(select(key[0]).where(key[0].in_(list(ids)))))
    return found


def _rows_of(db: Database, ctx: TenantContext, mappers: Sequence[Mapper[Any]]) -> list[Any]:
    """Every row the tenant of ``ctx`` has in the tables of ``mappers``, in key order,
    and its members' accounts."""
    with tenant_scope(ctx), db.sessions() as session:
        rows = []
        for mapper in mappers:
            query = select(*_columns(mapper)).where(mapper.class_.tenant_id == ctx.tenant_id)
            rows.append(session.execute(query.order_by(*mapper.primary_key)).all())
        members = select(Membership.user_id).where(Membership.tenant_id == ctx.tenant_id)
        accounts = select(*_columns(inspect(User))).where(User.id.in_(members))
        rows.append(session.execute(accounts.order_by(User.id)).all())
        session.rollback()
    return rows


def _restore(db: Database, ctx: TenantContext, mappers: Sequence[Mapper[Any]], rows: Any) -> None:
    """Put the tenant's rows in the tables of ``mappers`` back as ``rows`` (a snapshot of
    :func:`_rows_of`) holds them; its members' accounts are left as they are."""
    order = {table: i for i, table in enumerate(sort_tables({table_of(m) for m in mappers}))}
    held = sorted(zip(mappers, rows, strict=False), key=lambda pair: order[table_of(pair[0])])
    with tenant_scope(ctx), db.sessions() as session:
        for mapper, _ in reversed(held):  # children first: no foreign key is left dangling
            cls = mapper.class_
            session.execute(delete(cls).where(cls.tenant_id == ctx.tenant_id))
        for mapper, snapshot in held:
            keys = [prop.key for prop in mapper.column_attrs]
            if snapshot:
                session.execute(
                    insert(mapper.class_), [dict(zip(keys, r, strict=True)) for r in snapshot]
                )
        session.commit()


def _columns(mapper: Mapper[Any]) -> list[Any]:
    return [prop.class_attribute for prop in mapper.column_attrs]


# Values of columns under a unique constraint (a ticket number unique per tenant): every
# seeded row gets the next one, where a fixed 1 made the second row of a tenant collide.
_serial = itertools.count(1)


def _unique_columns(table: Any) -> set[str]:
    """The columns of ``table`` that a unique constraint or index covers."""
    groups = [c.columns for c in table.constraints if isinstance(c, UniqueConstraint)]
    groups += [i.columns for i in table.indexes if i.unique]
    return {col.key for cols in groups for col in cols} | {c.key for c in table.c if c.unique}


def _column_value(
    column: Any,
    marker: str,
    ctx: TenantContext,
    parents: Mapping[str, int],
    shared: Callable[[Any], Any],
    *,
    unique: bool,
) -> Any:
    for fk in column.foreign_keys:
        table = fk.column.table.name
        if table in parents:
            return parents[table]
        if table == "tenantry_users":
            return ctx.user_id
        return shared(fk)
    try:
        kind = column.type.python_type
    except NotImplementedError:
        return None
    if kind is str:
        length = getattr(column.type, "length", None) or 200
        # Unique per row (unique constraints), and still containing the marker.
        return f"{marker}-{secrets.token_hex(3)}"[:length]
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return next(iter(kind))  # an Enum column: a NOT NULL one was left empty
    n = next(_serial) if unique else 0  # ordered kinds step on under a unique constraint
    values: dict[type, Any] = {
        bool: False,
        int: 1 + n,
        float: 1.0 + n,
        Decimal: Decimal(1 + n),
        date: date(2024, 1, 15) + timedelta(days=n),
        datetime: datetime(2024, 1, 15, 12, tzinfo=UTC) + timedelta(seconds=n),
        time: time(12),
        timedelta: timedelta(hours=1),
        uuid.UUID: uuid.uuid4(),
        bytes: marker.encode(),
        dict: {},
        list: [],
    }
    return values.get(kind)


def seed_every_table(db: Database, ctx: TenantContext, *, marker: str) -> None:
    """One row in every tenant table for ``ctx``'s tenant, parents first, strings = ``marker``.

    Generic on purpose: a model added tomorrow is seeded, and so attacked,
    without a line of test code.
    """
    parents: dict[str, int] = {}
    by_table = {_table_name(m): m for m in tenant_mappers()}
    ordered = [t for t in Base.metadata.sorted_tables if t.name in by_table]
    with tenant_scope(ctx), db.session() as session:

        def shared(fk: Any) -> Any:
            """A row of a shared table (reference data every tenant reads), or, if it
            has none, nothing: a required reference then says what to add."""
            found = session.scalar(select(fk.column).limit(1))
            if found is None and not fk.parent.nullable:
                raise AssertionError(
                    f"{fk.parent.table.name}.{fk.parent.key} refers to {fk.column.table.name}, "
                    "which has no rows: add one (reference data) before the attack"
                )
            return found

        for table in ordered:
            mapper = by_table[table.name]
            unique = _unique_columns(table)
            values = {}
            for prop in mapper.column_attrs:
                column = prop.columns[0]
                if column.key in ("tenant_id", "id"):
                    continue
                value = _column_value(
                    column, marker, ctx, parents, shared, unique=column.key in unique
                )
                if value is not None:
                    values[prop.key] = value
            row = mapper.class_(**values)
            session.add(row)
            session.flush()
            parents[table.name] = row.id


def _table_name(mapper: Any) -> str:
    return str(mapper.local_table.name)


def _example(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Any:
    if "$ref" in schema:
        return _example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _example(options[0], defs) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type")
    fmt = schema.get("format")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _example(v, defs) for k, v in props.items() if k in schema.get("required", [])}
    if kind == "array":
        return []
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if fmt == "date":
        return date(2024, 1, 15).isoformat()
    if fmt == "date-time":
        return datetime(2024, 1, 15, 12, tzinfo=UTC).isoformat()
    if fmt == "uuid":
        return str(uuid.uuid4())
    return "attack"


@dataclass(frozen=True)
class Operation:
    """One method on one path of the app's OpenAPI document."""

    method: str
    path: str
    path_params: dict[str, str]  # name -> "int" | "uuid" | "str"
    body: Any


def _kind(schema: Mapping[str, Any]) -> str:
    options = schema.get("anyOf", [schema])
    for option in options:
        if option.get("type") == "integer":
            return "int"
        if option.get("format") == "uuid":
            return "uuid"
    return "str"


def route_table(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document plus every route it leaves out (HTML pages, health,
    the platform admin's API).

    A route left out of the published schema is still reachable, so it is attacked.
    """
    spec = copy.deepcopy(app.openapi())
    published = spec.get("paths", {})
    hidden = [
        APIRoute(r.path_format, r.endpoint, methods=sorted(r.methods or ()))
        for r in api_routes(app)
        if not r.include_in_schema
        or any(m.lower() not in published.get(r.path_format, {}) for m in r.methods or ())
    ]
    with warnings.catch_warnings():
        # Hidden routes may share a function across methods (duplicate operation ids):
        # harmless here, the ids are not used.
        warnings.simplefilter("ignore")
        extra = get_openapi(title=app.title, version=app.version, routes=hidden)
    for path, methods in extra.get("paths", {}).items():
        spec.setdefault("paths", {}).setdefault(path, {}).update(methods)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in extra.get("components", {}).get("schemas", {}).items():
        schemas.setdefault(name, schema)
    return spec


def operations(app: FastAPI) -> list[Operation]:
    """Every operation of the app, read from its route table (:func:`route_table`)."""
    spec = route_table(app)
    defs = spec.get("components", {}).get("schemas", {})
    found: list[Operation] = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            params = {
                p["name"]: _kind(p.get("schema", {}))
                for p in op.get("parameters", [])
                if p.get("in") == "path"
            }
            body = None
            for media in op.get("requestBody", {}).get("content", {}).values():
                body = _example(media.get("schema", {}), defs)
                break
            found.append(Operation(method.upper(), path, params, body))
    return found


def object_routes(app: FastAPI) -> list[Operation]:
    """Operations with a path parameter: the ones that reach one object."""
    return [op for op in operations(app) if op.path_params]


def collection_routes(app: FastAPI) -> list[Operation]:
    """GET operations without path parameters: lists, dashboards, exports."""
    return [op for op in operations(app) if op.method == "GET" and not op.path_params]


def write_routes(app: FastAPI) -> list[Operation]:
    """POST, PUT, PATCH and DELETE operations without path parameters."""
    return [op for op in operations(app) if op.method in _MUTATING and not op.path_params]


def _fill(op: Operation, values: Mapping[str, object]) -> str:
    path = op.path
    for name, kind in op.path_params.items():
        path = path.replace("{" + name + "}", str(values[kind]))
    return path


def attack_routes(
    client: Any,
    app: FastAPI,
    *,
    attacker_headers: Mapping[str, str],
    victim: Victim,
    new_attacker: Callable[[], Mapping[str, str]] | None = None,
) -> list[str]:
    """Attack every object route with the victim's ids, as the attacker; then every write
    that names no object (``new_attacker``: headers of another attacker, for when a route
    ended the first one's session).

    A response for a victim's id must equal the response for an id that does
    not exist (same status, same body once the id it was asked for is masked:
    an id echoed back tells nothing), no response may contain a marker, and,
    when the victim has a snapshot, no route may change the victim's rows.
    A 200 ``[]`` for both ids is isolation; a 200 listing the victim's rows is a leak.

    Returns:
        One line per finding, each once; an empty list means the isolation held.
    """
    findings: list[str] = []
    watch = _VictimWatch(victim, findings)
    for op in object_routes(app):
        findings += _attack_operation(client, op, attacker_headers, victim)
        watch.after(op)
    lists = collection_routes(app)
    for op in lists:
        response = client.get(op.path, headers=attacker_headers)
        findings += _leaks(victim, f"GET {op.path}", response.text)
    # Last, writes that name no object (``POST /housekeeping``): any of them may reach the
    # victim's rows with SQL of its own; one may also end the attacker's session (a sign
    # out everywhere), after which a fresh attacker goes on.
    canary = _canary(client, lists, attacker_headers)
    for op in write_routes(app):
        # A test client raises the app's own failure (a 500): not a leak, the walk goes on.
        with suppress(Exception):
            client.request(op.method, op.path, json=op.body, headers=attacker_headers)
        watch.after(op)
        if canary is not None and not _answers(client, canary, attacker_headers):
            if new_attacker is None:
                findings.append(
                    f"{op.method} {op.path} ended the attacker's access: the writes after it "
                    "were not attacked (pass new_attacker)"
                )
                break
            attacker_headers = new_attacker()
    # Every victim id of a route tends to find the same thing: one line says it.
    return list(dict.fromkeys(findings))


class _VictimWatch:
    """Compares the victim's rows after each route with before, and puts them back when a
    route changed them, so that it does not hide what the routes after it do."""

    def __init__(self, victim: Victim, findings: list[str]) -> None:
        self.victim = victim
        self.findings = findings
        self.before = victim.snapshot() if victim.snapshot else None

    def after(self, op: Operation) -> None:
        if self.victim.snapshot is None:
            return
        now = self.victim.snapshot()
        if now == self.before:
            return
        self.findings.append(f"{op.method} {op.path} changed the victim's data")
        if self.victim.restore is not None:
            self.victim.restore(self.before)
            now = self.victim.snapshot()
        self.before = now


def _canary(client: Any, lists: Sequence[Operation], headers: Mapping[str, str]) -> str | None:
    """A list the attacker can read now: its answer later tells whether they still can."""
    for op in lists:
        if _answers(client, op.path, headers):
            return op.path
    return None


def _answers(client: Any, path: str, headers: Mapping[str, str]) -> bool:
    return bool(200 <= client.get(path, headers=headers).status_code < 300)


def _attack_operation(
    client: Any, op: Operation, attacker_headers: Mapping[str, str], victim: Victim
) -> list[str]:
    """The findings of one object route: each victim id's answer against a missing id's."""
    body = op.body if op.method in _MUTATING else None
    kinds = set(op.path_params.values())
    attacks: list[dict[str, object]] = []
    if kinds & {"int", "str"}:
        attacks += [{**_MISSING, "int": i, "str": i} for i in victim.int_ids]
    if "uuid" in kinds:
        attacks += [{**_MISSING, "uuid": u} for u in victim.uuid_ids]
    where = f"{op.method} {op.path}"
    missing = client.request(op.method, _fill(op, _MISSING), json=body, headers=attacker_headers)
    again = client.request(op.method, _fill(op, _MISSING), json=body, headers=attacker_headers)
    # A body that changes from one request to the next (a time, a request id) cannot be
    # compared: its status and the markers still are.
    steady = _same_body(again.text, missing.text, _path_values(op, _MISSING))
    findings: list[str] = []
    for values in attacks:
        response = client.request(op.method, _fill(op, values), json=body, headers=attacker_headers)
        status, expected = response.status_code, missing.status_code
        if status != expected:
            findings.append(f"{where} with a victim id answered {status}, a missing id {expected}")
        elif steady and not _same_body(
            response.text, missing.text, _path_values(op, values, _MISSING)
        ):
            findings.append(
                f"{where}: a victim id and a missing id both answered {status}, "
                "with different bodies"
            )
        findings += _leaks(victim, where, response.text)
    return findings


def _path_values(op: Operation, *fillings: Mapping[str, object]) -> set[str]:
    """The values ``op``'s path was filled with, as they would be echoed in a body."""
    return {str(values[kind]) for values in fillings for kind in op.path_params.values()}


def _same_body(answer: str, expected: str, ids: set[str]) -> bool:
    """Whether two bodies are the same once the ids the two requests were made with are masked.

    The id asked for is the one thing a missing id's answer may legitimately differ in
    (``{"project_id": 7, "tasks": []}``, a problem's ``instance`` path). Both ids are
    masked in both bodies: a small id that merely occurs in a page is masked in each alike.
    """
    if answer == expected:
        return True
    # Whole tokens only: id 12 is not masked inside 123 or inside a hex string.
    alternatives = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    token = re.compile(rf"(?<![0-9A-Za-z])(?:{alternatives})(?![0-9A-Za-z])")
    return token.sub("{id}", answer) == token.sub("{id}", expected)


def _leaks(victim: Victim, where: str, text: str) -> list[str]:
    return [f"{where} leaked {marker!r}" for marker in victim.markers if marker in text]
