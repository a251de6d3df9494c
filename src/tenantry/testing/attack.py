"""The route-walking attack, and a switch to prove the other walls hold without the ORM's.

``attack_routes`` walks an app's route table and, for every route that takes
an object id (in its path, its query string or its JSON body), requests tenant A's
objects as tenant B: read, update, delete. Routes without ids (lists, export) are
read as B, searched for A's data, and read again after A's data grew. New routes
are attacked without writing new tests.
"""

from __future__ import annotations

import re
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy import BigInteger, SmallInteger, delete, insert, inspect, select
from sqlalchemy.orm import ColumnProperty, Mapper
from sqlalchemy.schema import sort_tables

from tenantry import scoping
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.export import table_of, tenant_mappers
from tenantry.ids import TenantId, UserId
from tenantry.models import Base, Invite, Membership, User, is_tenant_scoped
from tenantry.plans import quotas
from tenantry.roles import Role
from tenantry.testing.routes import (
    EXAMPLE,
    MISSING,
    Filling,
    Operation,
    Slot,
    deliver,
    filled,
    missing_beside,
    operations,
    request_of,
    send,
)
from tenantry.testing.seeding import python_type, seed_every_table, stored, table_name


@contextmanager
def scoping_switched_off() -> Iterator[None]:
    """Turn the ORM scoping off process-wide. Tests only: it proves what the other walls hold.

    Your routes' inserts then get no ``tenant_id``; SQLAlchemy's warning that a key column
    has none is expected, and silenced here."""
    scoping._enabled = False
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Column '.*' is marked as a member of the primary")
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
    # Every tenant row as the path from its outermost parent down to it, along the foreign
    # keys between tenant tables: ``(("recipes", 4), ("ingredients", 9))``. A path with two
    # ids gets a real pair, where one id in both matches no row.
    chains: list[tuple[tuple[str, int], ...]] = field(default_factory=list)
    # The tenant's row ids by table (``{"orders": [4, 7]}``; a legacy uuid key's uuids).
    rows: dict[str, list[Any]] = field(default_factory=dict)
    # Adds a row to every tenant table of the tenant (the snapshot's ``restore`` takes them
    # away): an answer that changes with it reads the tenant's data (a count over everyone).
    grow: Callable[[], None] | None = field(default=None, repr=False, compare=False)


def collect_victim(db: Database, tenant_id: uuid.UUID, *, markers: Sequence[str] = ()) -> Victim:
    """Every id tenant A owns: tenant-table rows, members, invites; and a snapshot of them."""
    victim = Victim(markers=list(markers))
    # In the victim's own scope, not unscoped(): on PostgreSQL RLS shows tenant
    # rows only to a transaction that has the tenant set.
    ctx = TenantContext(TenantId(tenant_id), None, Role.OWNER)
    rows: dict[str, list[Any]] = {}
    with tenant_scope(ctx), db.sessions() as session:
        for mapper in tenant_mappers():
            cls = mapper.class_
            key = _row_id(mapper, uuid.UUID)
            rows[table_name(mapper)] = (
                list(session.scalars(select(key).where(cls.tenant_id == tenant_id)))
                if key is not None
                else []
            )
            victim.int_ids += _of_kind(rows[table_name(mapper)], "int")
            # A uuid column is an id too (a public id in the URL, ``/projects/{public_id}``).
            for prop in mapper.column_attrs:
                if prop.key != "tenant_id" and python_type(prop.columns[0]) is uuid.UUID:
                    where = cls.tenant_id == tenant_id, prop.class_attribute.is_not(None)
                    victim.uuid_ids += session.scalars(select(prop.class_attribute).where(*where))
        victim.int_ids += list(
            session.scalars(select(Membership.user_id).where(Membership.tenant_id == tenant_id))
        )
        victim.uuid_ids += list(
            session.scalars(select(Invite.id).where(Invite.tenant_id == tenant_id))
        )
        shared = _shared_ids(session, [*victim.int_ids, *victim.uuid_ids])
        victim.int_ids = [i for i in victim.int_ids if i not in shared]
        victim.uuid_ids = [u for u in victim.uuid_ids if u not in shared]
        victim.chains = _chains(
            session, tenant_id, {t: _of_kind(ids, "int") for t, ids in rows.items()}
        )
        victim.rows = rows
        owner = session.scalar(
            select(Membership.user_id)
            .where(Membership.tenant_id == tenant_id)
            .order_by(Membership.user_id)
            .limit(1)
        )
        session.rollback()
    held = [*tenant_mappers(), inspect(Membership), inspect(Invite)]
    victim.snapshot = lambda: _rows_of(db, ctx, held)
    victim.restore = lambda rows: _restore(db, ctx, held, rows)
    grower = TenantContext(TenantId(tenant_id), UserId(owner) if owner else None, Role.OWNER)
    victim.grow = lambda: seed_every_table(
        db, grower, marker=next(iter(markers), "grown"), skip_full=True
    )
    return victim


def _row_id(mapper: Mapper[Any], *also: type) -> Any:
    """The integer ``id`` of a tenant table's rows (or one of a type in ``also``: a legacy
    uuid key), or None: a key of another type, or of several columns (no ``id``)."""
    prop = mapper.attrs.get("id")
    if not isinstance(prop, ColumnProperty) or python_type(prop.columns[0]) not in (int, *also):
        return None
    return prop.class_attribute


def _of_kind(ids: Sequence[Any], kind: str) -> list[Any]:
    """Those of ``ids`` a slot of ``kind`` takes: uuids for a uuid, integers for the rest."""
    wanted: type = uuid.UUID if kind.removesuffix("[]") == "uuid" else int
    return [i for i in ids if isinstance(i, wanted)]


def _chains(
    session: Any, tenant_id: uuid.UUID, rows: Mapping[str, Sequence[int]]
) -> list[tuple[tuple[str, int], ...]]:
    """Every tenant row of ``tenant_id`` (``rows``: their ids by table) with its ancestors
    along the foreign keys between tenant tables, outermost first
    (``/recipes/{recipe_id}/ingredients/{ingredient_id}``)."""
    parents: dict[tuple[str, int], list[tuple[str, int]]] = {
        (name, row): [] for name, ids in rows.items() for row in ids
    }
    for mapper, column, target in _tenant_references():
        cls = mapper.class_
        key = _row_id(mapper)
        if key is None:
            continue
        ref = mapper.get_property_by_column(column).class_attribute
        pairs = session.execute(
            select(key, ref).where(cls.tenant_id == tenant_id, ref.is_not(None))
        )
        for child, parent in pairs:
            parents.setdefault((table_name(mapper), child), []).append((target, parent))

    def up(row: tuple[str, int], seen: frozenset[tuple[str, int]]) -> list[tuple[Any, ...]]:
        above = [p for p in parents.get(row, []) if p not in seen and p in parents]
        if not above or len(seen) >= _DEEPEST:
            return [(row,)]
        return [(*chain, row) for p in above for chain in up(p, seen | {row})]

    return [chain for row in parents for chain in up(row, frozenset())]


# How many ids a path may take from one chain of parents (a self-referencing table's
# rows would otherwise go on as long as the data does).
_DEEPEST = 4


def _shared_ids(session: Any, ids: Sequence[Any]) -> set[Any]:
    """Which of ``ids`` (integers and uuids) are also keys of the app's shared tables
    (reference data any tenant reads): a route answering 200 for one of those tells nothing
    of the victim, so the attack does not use it. Members' ids are small, as a shared
    table's often are; a tenant row's reference to a shared row holds its uuid."""
    found: set[Any] = set()
    for mapper in Base.registry.mappers:
        table = mapper.local_table
        key = list(mapper.primary_key)
        if (
            is_tenant_scoped(mapper.class_)
            or str(getattr(table, "name", "")).startswith("tenantry_")
            or len(key) != 1
        ):
            continue
        kind = python_type(key[0])
        if kind not in (int, uuid.UUID):
            continue
        mine = [i for i in ids if isinstance(i, kind) and _fits(key[0], i)]
        if mine:
            found |= set(session.scalars(select(key[0]).where(key[0].in_(mine))))
    return found


def _fits(column: Any, value: Any) -> bool:
    """Whether ``value`` fits ``column``'s integer type: a legacy shared table keeps its
    32-bit key, and PostgreSQL refuses to compare it with a tenant row's 53-bit id."""
    if not isinstance(value, int) or isinstance(column.type, BigInteger):
        return True
    bits = 16 if isinstance(column.type, SmallInteger) else 32
    limit: int = 2 ** (bits - 1)
    return -limit <= value < limit


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
            computed = {p.key for p in mapper.column_attrs if not stored(p.columns[0])}
            if snapshot:
                rows = [dict(zip(keys, r, strict=True)) for r in snapshot]
                session.execute(
                    insert(mapper.class_),
                    [{k: v for k, v in row.items() if k not in computed} for row in rows],
                )
        session.commit()


def _columns(mapper: Mapper[Any]) -> list[Any]:
    return [prop.class_attribute for prop in mapper.column_attrs]


def attack_routes(
    client: Any,
    app: FastAPI,
    *,
    attacker_headers: Mapping[str, str],
    victim: Victim,
    new_attacker: Callable[[], Mapping[str, str]] | None = None,
    attacker_rows: Victim | None = None,
) -> list[str]:
    """Attack every route that takes an id with the victim's ids, as the attacker; read every
    list before and after the victim's data grows; then send every write that names no
    object (``new_attacker``: headers of another attacker, for when a route ended the first
    one's session).

    A response for a victim's id must equal the response for an id that does
    not exist (same status, same body once the id it was asked for is masked:
    an id echoed back tells nothing), no response may contain a marker, and,
    when the victim has a snapshot, no route may change the victim's rows.
    A 200 ``[]`` for both ids is isolation; a 200 listing the victim's rows is a leak.
    A path with several ids also gets the victim's real chains of rows (a recipe and
    its ingredient) and, given ``attacker_rows`` (:func:`collect_victim` of the
    attacker's tenant), the attacker's own parent with the victim's child.

    Returns:
        One line per finding, each once; an empty list means the isolation held.
    """
    findings: list[str] = []
    unreached: list[str] = []
    watch = _VictimWatch(victim, findings)
    table = operations(app)  # read once: each read deep-copies and rebuilds the OpenAPI document
    for op in (op for op in table if op.takes_ids):
        findings += _attack_operation(
            client, op, attacker_headers, victim, attacker_rows, unreached=unreached
        )
        watch.after(op)
    lists = [op for op in table if op.is_list]
    for op in lists:
        response = send(client, op, {}, attacker_headers)
        findings += _leaks(victim, f"GET {op.path}", response.text)
    findings += _moved_by_the_victim(client, lists, attacker_headers, victim)
    # Last, writes that name no object (``POST /housekeeping``): any of them may reach the
    # victim's rows with SQL of its own; one may also end the attacker's session (a sign
    # out everywhere), after which a fresh attacker goes on.
    canary = _canary(client, lists, attacker_headers)
    for op in (op for op in table if op.is_write):
        # A test client raises the app's own failure (a 500): not a leak, the walk goes on.
        with suppress(Exception):
            send(client, op, filled(op, EXAMPLE), attacker_headers)
        watch.after(op)
        if canary is not None and not _answers(client, canary, attacker_headers):
            if new_attacker is None:
                findings.append(
                    f"{op.method} {op.path} ended the attacker's access: the writes after it "
                    "were not attacked (pass new_attacker)"
                )
                break
            attacker_headers = new_attacker()
    # Every victim id of a route tends to find the same thing: one line says it, with
    # the first request that showed it.
    first: dict[str, str] = {}
    for finding in findings:
        first.setdefault(finding.split(" (sent: ", 1)[0], finding)
    if unreached:
        warnings.warn(
            "tenantry_attack did not reach these routes: every request it sent was refused "
            "as invalid (422), so they are not proven; test them yourself, or give their "
            "parameters an example the attack can use (a default, `examples=[…]`, or the "
            "limits it reads: minLength, maxLength, minItems, minimum, maximum):\n  "
            + "\n  ".join(unreached),
            UnreachedRoute,
            stacklevel=2,
        )
    return list(first.values())


def _moved_by_the_victim(
    client: Any, lists: Sequence[Operation], headers: Mapping[str, str], victim: Victim
) -> list[str]:
    """Lists whose answer to the attacker changes when only the victim's rows do.

    A count or a sum over every tenant carries neither a marker nor an id: only
    this shows it. The lists are read in rounds, all of them each time: one whose
    answer differs from one round to the next already (a time, a token, an audit
    trail of the reads themselves), or does not come back once the victim's rows are
    back, is left out.
    """
    if victim.grow is None or victim.snapshot is None or victim.restore is None:
        return []

    def round_of_reads() -> dict[str, tuple[int, str]]:
        return {
            op.path: (answer.status_code, answer.text)
            for op in lists
            for answer in [send(client, op, {}, headers)]
        }

    first, before = round_of_reads(), round_of_reads()
    steady = {path for path, answer in before.items() if first[path] == answer}
    if not steady:
        return []
    rows = victim.snapshot()
    victim.grow()
    try:
        grown = round_of_reads()
    finally:
        victim.restore(rows)
    # Read once more with the victim's rows as they were: an answer that moved with the
    # victim moves back; one with a time to the second in it may have ticked meanwhile.
    restored = round_of_reads()
    return [
        f"GET {path} answered differently once the victim had more rows"
        for path in sorted(steady)
        if grown[path] != before[path] and restored[path] == before[path]
    ]


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


def _canary(
    client: Any, lists: Sequence[Operation], headers: Mapping[str, str]
) -> Operation | None:
    """A list the attacker can read now: its answer later tells whether they still can."""
    for op in lists:
        if _answers(client, op, headers):
            return op
    return None


def _answers(client: Any, op: Operation, headers: Mapping[str, str]) -> bool:
    return bool(200 <= send(client, op, {}, headers).status_code < 300)


@dataclass(frozen=True)
class _Probe:
    """One request of an attack: the ids it is sent with, the ids of the request whose
    answer it must equal, what the first ones are (for the finding), and whether its
    answer is searched for the marker (not when the marker is what it sent)."""

    values: Filling
    base: Filling
    what: str
    scan: bool = True


def _probes(op: Operation, victim: Victim, attacker_rows: Victim | None) -> list[_Probe]:
    """The requests that attack ``op``: each victim id in every slot of its kind, the
    victim's marker as search text; for a path with several ids, the victim's chains of
    rows, and the attacker's own outer rows with the victim's inner ones."""
    kinds = {kind.removesuffix("[]") for kind in op.slots().values()}
    missing = filled(op, MISSING)
    probes: list[_Probe] = []
    if kinds & {"int", "str"}:
        for i in victim.int_ids:
            n = missing_beside(i)
            beside = missing if n == MISSING["int"] else filled(op, {**MISSING, "int": n, "str": n})
            probes.append(
                _Probe(filled(op, {**MISSING, "int": i, "str": i}), beside, "a victim id")
            )
    if "uuid" in kinds:
        probes += [
            _Probe(filled(op, {**MISSING, "uuid": u}), missing, "a victim id")
            for u in victim.uuid_ids
        ]
    if "text" in kinds and victim.markers:
        text = filled(op, {**MISSING, "text": victim.markers[0]})
        probes.append(_Probe(text, missing, "the victim's text", scan=False))
    return probes + _nested_probes(op, victim, attacker_rows, missing)


def _nested_probes(
    op: Operation, victim: Victim, attacker_rows: Victim | None, missing: Filling
) -> list[_Probe]:
    """For a path with k ids: each chain of k victim rows (a recipe and its ingredient),
    and each chain that starts with the attacker's rows and ends with the victim's (the
    attacker's recipe, the victim's ingredient), against the attacker's part with missing
    ids after it."""
    nested = [("path", n) for n, kind in op.path_params.items() if kind != "uuid"]
    depth = len(nested)
    if depth < 2:
        return []

    def along(rows: Sequence[tuple[str, int]]) -> dict[Slot, object]:
        return {**missing, **dict(zip(nested, (row_id for _, row_id in rows), strict=False))}

    theirs = list(dict.fromkeys(c[-depth:] for c in victim.chains if len(c) >= depth))
    probes = [_Probe(along(c), missing, "the victim's ids") for c in theirs]
    own = attacker_rows.chains if attacker_rows is not None else []
    by_tables: dict[tuple[str, ...], tuple[tuple[str, int], ...]] = {}
    for chain in own:
        if len(chain) >= depth:
            by_tables.setdefault(tuple(t for t, _ in chain[-depth:]), chain[-depth:])
    for chain in theirs:
        mine = by_tables.get(tuple(t for t, _ in chain))
        if mine is None:
            continue
        for split in range(1, depth):
            base = along(mine[:split])  # the attacker's rows, missing ids after them
            what = "its own parent and a victim's child" if depth == 2 else _MIXED.format(split)
            probes.append(_Probe(along([*mine[:split], *chain[split:]]), base, what))
    return probes


_MIXED = "its own first {} ids and the victim's after them"


def _own_object_probes(
    client: Any,
    op: Operation,
    headers: Mapping[str, str],
    victim: Victim,
    attacker_rows: Victim | None,
) -> list[_Probe]:
    """For a route with ids in its path and in its query or body (``PUT /tasks/{task_id}/
    labels`` with ``{"label_ids": […]}``): the attacker's own object in the path, the
    victim's ids in the rest, against missing ids there. With the victim's id in the path
    too, a route that first looks its object up answers 404 before reading the rest.

    Which of the attacker's rows the path names is found by asking: the ones whose answer
    differs from a missing object's.
    """
    path = [("path", n) for n, kind in op.path_params.items() if kind != "uuid"]
    rest = {
        slot: kind
        for slot, kind in op.slots().items()
        if slot[0] != "path" and kind.removesuffix("[]") in ("int", "str", "uuid")
    }
    if attacker_rows is None or not path or len(path) != len(op.path_params) or not rest:
        return []
    missing = filled(op, MISSING)
    nothing = send(client, op, missing, headers)
    depth = len(path)
    probes: list[_Probe] = []
    for chain in dict.fromkeys(c[-depth:] for c in attacker_rows.chains if len(c) >= depth):
        own = {**missing, **dict(zip(path, (row_id for _, row_id in chain), strict=True))}
        answer = send(client, op, own, headers)
        if answer.status_code == nothing.status_code and _same_body(
            answer.text, nothing.text, _ids_in(own, missing)
        ):
            continue  # not an object of this route
        probes += _one_at_a_time(own, rest, victim, attacker_rows, _OWN)
    return probes


_OWN = "its own object and a victim id"


def _one_slot_probes(op: Operation, victim: Victim, attacker_rows: Victim | None) -> list[_Probe]:
    """For a route with several ids and none in its path (``POST /orders`` with
    ``customer_id`` and ``lines[].product_id``): :func:`_one_at_a_time`, against missing
    ids. With the victim's ids in all of them, a route that looks its first id up answers
    404 before it reads the next."""
    slots = {
        slot: kind
        for slot, kind in op.slots().items()
        if kind.removesuffix("[]") in ("int", "str", "uuid")
    }
    if attacker_rows is None or op.path_params or len(slots) < 2:
        return []
    return _one_at_a_time(filled(op, MISSING), slots, victim, attacker_rows, _ONE)


_ONE = "its own ids and a victim id in {}"


def _one_at_a_time(
    base: Filling, slots: Mapping[Slot, str], victim: Victim, attacker_rows: Victim, what: str
) -> list[_Probe]:
    """Each of ``slots`` with a victim id, the others with the attacker's own rows, against
    the same with a missing id in that one (the rest of ``base`` as it is). A slot's table
    is told by a foreign key column of its name (``customer_id`` in ``orders``), else by
    the name (``product_id``: ``products``); a slot whose table is not told gets every
    victim id of its kind, and a missing id when it is one of the others."""
    references = _referred_tables()
    tables = {slot: _table_named(slot[1], victim.rows, references) for slot in slots}
    probes: list[_Probe] = []
    for slot, kind in slots.items():
        around = dict(base)
        for other, other_kind in slots.items():
            own = _of_kind(attacker_rows.rows.get(tables[other] or "", []), other_kind)
            if other != slot and own:
                around[other] = [own[0]] if other_kind.endswith("[]") else own[0]
        everyone = victim.uuid_ids if kind.removesuffix("[]") == "uuid" else victim.int_ids
        theirs = _of_kind(victim.rows.get(tables[slot] or "", []), kind) or everyone
        label = what.format(slot[1])
        listed = kind.endswith("[]")
        for v in theirs:
            beside = around
            if kind.removesuffix("[]") == "int" and missing_beside(v) != MISSING["int"]:
                small = missing_beside(v)
                beside = {**around, slot: [small] if listed else small}
            probes.append(_Probe({**around, slot: [v] if listed else v}, beside, label))
    return probes


def _table_named(
    name: str, rows: Mapping[str, Sequence[int]], references: Mapping[str, str]
) -> str | None:
    """The tenant table an id field names (``lines[].productId``: ``products``), if any;
    ``references``: :func:`_referred_tables`."""
    leaf = name.rsplit(".", 1)[-1].replace("[]", "")
    leaf = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", leaf).lower()
    referred = references.get(leaf)
    if referred in rows:
        return referred
    base = re.sub(r"_?ids?$", "", leaf)
    if not base:
        return None
    for table in rows:
        for form in (base, f"{base}s", f"{base}es", f"{base[:-1]}ies"):
            if table == form or table.endswith(f"_{form}"):
                return table
    return None


def _referred_tables() -> dict[str, str]:
    """Each foreign key column of the tenant tables (``customer_id``) and the tenant table
    it refers to."""
    found: dict[str, str] = {}
    for _mapper, column, target in _tenant_references():
        found.setdefault(column.key, target)
    return found


def _tenant_references() -> Iterator[tuple[Mapper[Any], Any, str]]:
    """Each column of a tenant table that refers to another tenant table's key (with
    ``tenant_id`` beside it), and that table's name."""
    tables = {table_name(m) for m in tenant_mappers()}
    for mapper in tenant_mappers():
        for fk in table_of(mapper).foreign_key_constraints:
            target = fk.referred_table.name
            if target not in tables:
                continue
            for element in fk.elements:
                if element.column.primary_key and element.column.key != "tenant_id":
                    yield mapper, element.parent, target


def _attack_operation(
    client: Any,
    op: Operation,
    attacker_headers: Mapping[str, str],
    victim: Victim,
    attacker_rows: Victim | None = None,
    *,
    unreached: list[str] | None = None,
) -> list[str]:
    """The findings of one route that takes ids: each probe's answer against the answer to
    the same request with missing ids. Each finding quotes a request that shows it; a
    route that refused every request as invalid goes to ``unreached``."""
    where = f"{op.method} {op.path}"
    # Each baseline asked twice: a body that changes from one request to the next (a time,
    # a request id) cannot be compared; its status and the markers still are.
    baselines: dict[str, tuple[Any, bool]] = {}
    findings: list[str] = []
    statuses: set[int] = set()
    try:
        probes = _probes(op, victim, attacker_rows)
        probes += _own_object_probes(client, op, attacker_headers, victim, attacker_rows)
        probes += _one_slot_probes(op, victim, attacker_rows)
        for probe in probes:
            key = repr(sorted(probe.base.items(), key=str))  # values may be lists
            if key not in baselines:
                first, again = (send(client, op, probe.base, attacker_headers) for _ in range(2))
                baselines[key] = (first, _same_body(again.text, first.text, _ids_in(probe.base)))
                statuses.add(first.status_code)
            expected, steady = baselines[key]
            request = request_of(op, probe.values)
            response = deliver(client, op, request, attacker_headers)
            statuses.add(response.status_code)
            sent = f" (sent: {request})"
            status = response.status_code
            if status != expected.status_code:
                findings.append(
                    f"{where} with {probe.what} answered {status}, "
                    f"a missing id {expected.status_code}{sent}"
                )
            elif (
                steady
                and not _same_body(response.text, expected.text, _ids_in(probe.values, probe.base))
                and _still_steady(
                    client, op, probe.base, attacker_headers, expected, baselines, key
                )
            ):
                findings.append(
                    f"{where}: {probe.what} and a missing id both answered {status}, "
                    f"with different bodies{sent}"
                )
            if probe.scan:
                findings += [f + sent for f in _leaks(victim, where, response.text)]
    except Exception as exc:  # a test client raises the route's own failure (a 500)
        first_line = (str(exc).splitlines() or [""])[0][:300]
        findings.append(
            f"{where} failed ({type(exc).__name__}: {first_line}): "
            "the rest of its attack was not sent"
        )
    if statuses == {422} and unreached is not None:
        unreached.append(f"{op.method} {op.path}: sent {request_of(op, filled(op, MISSING))}")
    return findings


class UnreachedRoute(UserWarning):
    """Routes the attack sent requests to but could not get past their validation."""


def _still_steady(
    client: Any,
    op: Operation,
    base: Filling,
    headers: Mapping[str, str],
    expected: Any,
    baselines: dict[str, tuple[Any, bool]],
    key: str,
) -> bool:
    """Whether the baseline still answers as it did: a time to the second in a body can
    tick between two back-to-back requests and the next one. When it no longer does, the
    route's bodies cannot be compared (only its status and the markers)."""
    again = send(client, op, base, headers)
    if again.status_code == expected.status_code and _same_body(
        again.text, expected.text, _ids_in(base)
    ):
        return True
    baselines[key] = (expected, False)
    return False


def _ids_in(*fillings: Filling) -> set[str]:
    """The ids (and texts) requests were made with, as they would be echoed in a body."""
    found: set[str] = set()
    for filling in fillings:
        for value in filling.values():
            found |= {str(v) for v in value} if isinstance(value, list) else {str(value)}
    return found


def _same_body(answer: str, expected: str, ids: set[str]) -> bool:
    """Whether two bodies are the same once the ids the two requests were made with are masked.

    The id asked for is the one thing a missing id's answer may legitimately differ in
    (``{"project_id": 7, "tasks": []}``, a problem's ``instance`` path). Both ids are
    masked in both bodies: a small id that merely occurs in a page is masked in each alike.
    """
    if answer == expected:
        return True
    # Whole tokens only: id 12 is not masked inside 123 or inside a hex string. Any case:
    # a search may echo its text lower-cased.
    alternatives = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    token = re.compile(rf"(?<![0-9A-Za-z])(?:{alternatives})(?![0-9A-Za-z])", re.IGNORECASE)
    return token.sub("{id}", answer) == token.sub("{id}", expected)


def _leaks(victim: Victim, where: str, text: str) -> list[str]:
    return [f"{where} leaked {marker!r}" for marker in victim.markers if marker in text]
