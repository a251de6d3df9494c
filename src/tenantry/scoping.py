"""Automatic tenant scoping of ORM sessions, failing closed.

Once installed on a ``sessionmaker``, every ORM SELECT, UPDATE and DELETE of a
:class:`~tenantry.models.TenantScoped` class - joins, aliases, unions,
relationship loads and ``session.get()`` included - is limited to the current
tenant through ``with_loader_criteria``; new rows are stamped with the tenant
and any write into another tenant raises. With no tenant context, touching a
tenant table raises, except inside :func:`unscoped`, the one escape hatch.

A session is pinned to the first tenant it serves and refuses any other, so
its identity map never carries one tenant's objects into another's request;
it keeps serving that tenant after the scope is left, so a commit in teardown
flushes for the tenant whose changes they are.
"""

from __future__ import annotations

import logging
import uuid
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from sqlalchemy import Column, CursorResult, Table, Uuid, bindparam, event, inspect, select
from sqlalchemy.orm import Mapper, ORMExecuteState, Session, UOWTransaction, object_session
from sqlalchemy.orm import with_loader_criteria as _criteria
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.sql.annotation import Annotated
from sqlalchemy.sql.elements import BindParameter, ClauseElement, ColumnClause
from sqlalchemy.sql.selectable import Alias, Join, Select, TableClause

from tenantry.context import TenantContext, maybe_current_tenant
from tenantry.errors import CrossTenantWrite, NoTenantContext, TenantryError
from tenantry.hooks import SessionFactory, listen
from tenantry.models.audit import AuditEvent
from tenantry.models.base import Base, TenantScoped, is_tenant_scoped
from tenantry.read_only import defer_write

log = logging.getLogger("tenantry.scoping")

_PINNED = "tenantry.pinned_tenant"
_BOUND = "tenantry.bound_context"
_UNSCOPED = "tenantry.unscoped"
_SCOPED = "tenantry.scoped"  # a session the scoping hooks watch

# Flipped only by tenantry.testing.scoping_switched_off(), to prove the other walls.
_enabled = True


class SessionTenantMismatch(TenantryError):
    """A session that served one tenant was asked to serve another."""

    code = "session_tenant_mismatch"
    status = 500


def install_scoping(factory: SessionFactory) -> None:
    """Attach the scoping hooks to every session ``factory`` makes (make it with
    ``class_=TenantSession`` so the legacy bulk methods are scoped too)."""
    listen(factory, "do_orm_execute", _on_execute)
    listen(factory, "before_flush", _before_flush)


class _TenantTables(NamedTuple):
    tables: frozenset[Table]
    # What table("x") and a Table of another MetaData are matched by: the name alone, in
    # lower case. SQLite folds the case of names and takes "main." as no schema, PostgreSQL
    # "public." : a name that may be a tenant table's is one, in every schema.
    names: frozenset[str]


_tables_cache: _TenantTables | None = None


@event.listens_for(Mapper, "after_mapper_constructed")
def _forget_tenant_tables(mapper: Mapper[Any], class_: type) -> None:
    global _tables_cache
    _tables_cache = None


def _tenant_tables() -> _TenantTables:
    """Every table mapped by a ``TenantScoped`` class of ``Base``, and their names.

    Asked on every statement, so it is computed again only when a class is mapped:
    ``Base.registry.mappers`` builds a new set at each use (~1/4 of the check's time).
    """
    global _tables_cache
    if _tables_cache is None:
        tables = frozenset(
            m.local_table
            for m in Base.registry.mappers
            if is_tenant_scoped(m.class_) and isinstance(m.local_table, Table)
        )
        _tables_cache = _TenantTables(tables, frozenset(t.name.lower() for t in tables))
    return _tables_cache


def tenant_tables() -> frozenset[Table]:
    """Every table mapped by a ``TenantScoped`` class of ``Base``."""
    return _tenant_tables().tables


def is_unscoped(session: Session) -> bool:
    return bool(session.info.get(_UNSCOPED))


def bind_tenant(session: Session, ctx: TenantContext) -> None:
    """Make ``ctx`` the tenant of ``session``'s whole unit of work.

    A request's session is bound when its membership is resolved: its final
    flush and commit then run for that tenant even after the route's
    :func:`~tenantry.context.tenant_scope` was left (dependency teardown).

    Raises:
        SessionTenantMismatch: the session already served another tenant.
    """
    pinned = session.info.get(_PINNED)
    if pinned is not None and pinned != ctx.tenant_id:
        raise SessionTenantMismatch(
            "this session already served another tenant; use one session per tenant scope"
        )
    session.info[_BOUND] = ctx
    session.info[_PINNED] = ctx.tenant_id


def bound_context(session: Session) -> TenantContext | None:
    """The context ``session`` was bound to with :func:`bind_tenant`, if any."""
    ctx: TenantContext | None = session.info.get(_BOUND)
    return ctx


def session_tenant(session: Session) -> uuid.UUID | None:
    """The tenant this session works for now, pinning it on first use.

    The active :func:`~tenantry.context.tenant_scope` decides, else the context
    the session was bound to. Returns ``None`` inside :func:`unscoped` and when
    there is neither.
    """
    if session.info.get(_UNSCOPED):
        return None
    ctx = maybe_current_tenant() or session.info.get(_BOUND)
    if ctx is None:
        return None
    pinned = session.info.get(_PINNED)
    if pinned is None:
        # Pinned and bound: the session's final flush (at commit, perhaps after the
        # scope was left) still writes for this tenant.
        session.info[_PINNED] = ctx.tenant_id
        session.info[_BOUND] = ctx
    elif pinned != ctx.tenant_id:
        raise SessionTenantMismatch(
            "this session already served another tenant; use one session per tenant scope"
        )
    return ctx.tenant_id


def tenant_table_rows(
    session: Session,
    mapper: Mapper[Any],
    keys: Sequence[str],
    order_by: Sequence[Column[Any]],
    *,
    yield_per: int,
) -> CursorResult[Any]:
    """The session's tenant's rows of ``mapper``'s table through Core, ``keys`` attributes
    in ``order_by`` order, ``yield_per`` rows at a time: for bulk reads (an export), where
    the ORM's row loading was ~40 % of the cost.

    The same columns are first queried through the ORM for no rows, so the session's
    hooks run as for any query: scoping pins the tenant and fails closed without one,
    a placement routes the session, PostgreSQL's transaction gets the RLS tenant. The
    Core read then runs on that connection with the tenant written in. Inside
    :func:`unscoped` there is no tenant to write in: :class:`NoTenantContext`.
    """
    session.execute(select(*[getattr(mapper.class_, key) for key in keys]).limit(0)).all()
    tenant_id = session_tenant(session)
    if tenant_id is None:
        raise NoTenantContext("a bulk read reads one tenant's rows: enter tenant_scope()")
    table = mapper.local_table
    columns = [table.c[mapper.get_property(key).columns[0].key] for key in keys]
    stmt = select(*columns).where(table.c.tenant_id == tenant_id).order_by(*order_by)
    connection = session.connection(bind_arguments={"mapper": mapper})
    return connection.execute(stmt.execution_options(yield_per=yield_per))


# Statement -> (the tenant_tables() it was checked against, what it does with them).
# Statements built once (module constants, cached page queries) are walked once; the
# membership check's walk was ~6 % of a GET. Weak keys: per-call statements just go.
_touches: weakref.WeakKeyDictionary[Any, tuple[frozenset[Table], _Use]] = (
    weakref.WeakKeyDictionary()
)


_THROUGH_CORE = (
    "a tenant table named through Core (its Table, a column of it, table(), or a "
    "relationship's secondary=) is not scoped; name the mapped class and its attributes "
    "instead (for a many-to-many, relate to the association class)"
)
_FULL_JOIN = (
    "a FULL OUTER JOIN to a tenant table is not scoped: its tenant criterion sits in the "
    "ON clause, which keeps every other tenant's rows; join from the tenant side instead"
)
_WITH_EXPRESSION = (
    "with_expression() over a tenant table is not scoped: loader criteria do not reach "
    "the expression; select it as a column of the statement instead"
)


class _Use(NamedTuple):
    touches: bool  # it reads or writes a tenant table, however named
    through_core: bool  # it reaches one unscoped: its Table, a column, table("name"), ...
    why: str = _THROUGH_CORE  # how, as the refusal says it


# What an element is to the walk, decided once per class (isinstance chains on every
# element were a third of the walk): annotated classes are generated per class of element.
_OTHER, _SELECT, _TABLE, _ANNOTATED_TABLE, _ANNOTATED, _COLUMN = range(6)
_kinds: dict[type, int] = {}


def _kind(cls: type) -> int:
    kind = _kinds.get(cls)
    if kind is None:
        if issubclass(cls, Select):
            kind = _SELECT
        elif issubclass(cls, Annotated):
            kind = _ANNOTATED_TABLE if issubclass(cls, TableClause) else _ANNOTATED
        elif issubclass(cls, TableClause):
            kind = _TABLE
        elif issubclass(cls, ColumnClause):
            kind = _COLUMN
        else:
            kind = _OTHER
        _kinds[cls] = kind
    return kind


def _tenant_table_use(statement: Any) -> _Use:
    tables, names = _tenant_tables()
    known = _touches.get(statement)
    if known is not None and known[0] is tables:
        return known[1]
    touches = through_core = False
    why = _THROUGH_CORE
    pending = [statement]
    while pending:
        top = pending.pop()
        if getattr(top, "_with_options", None) and _expression_options_read_tenant(top):
            touches = through_core = True
            why = _WITH_EXPRESSION
        own, nested = _own_elements(top)
        # The tenant tables this SELECT reaches through a mapped class: a Core column of
        # one of them names that same, scoped, FROM (the ORM itself writes session.get()'s
        # key that way). Not an enclosing SELECT's: a subquery does not correlate a Core
        # table to an entity's (B counted A's rows), so there it is a FROM of its own.
        entities: set[Any] | None = None
        for el, kind in own:
            if kind == _OTHER:
                continue
            if kind in (_ANNOTATED_TABLE, _TABLE):
                if el in tables:
                    touches = True  # a mapped class's table (annotated) or the Table itself
                elif kind == _TABLE and el.name.lower() in names:
                    touches = through_core = True  # table("readings", column(...))
            elif kind == _COLUMN:
                if _is_tenant_from(el.table, tables, names):
                    touches = True
                    if entities is None:
                        entities = _entity_tables(own, tables)
                    through_core |= el.table not in entities  # an unscoped FROM of its own
            elif kind == _SELECT:
                if any(_is_tenant_from(f, tables, names) for f in _froms(el)):
                    touches = through_core = True  # select_from(T), join(T, ...)
                elif _full_join_to_tenant(el, tables, names):
                    touches = through_core = True
                    why = _FULL_JOIN
        pending.extend(nested)
    use = _Use(touches, through_core, why)
    _touches[statement] = (tables, use)
    return use


def _entity_tables(own: list[tuple[Any, int]], tables: frozenset[Table]) -> set[Any]:
    """The tenant tables that ``own`` (one SELECT's elements) names through mapped classes,
    its explicit FROMs included."""
    named = [el for el, kind in own if kind in (_ANNOTATED_TABLE, _ANNOTATED)]
    named += [
        f
        for el, kind in own
        if kind == _SELECT
        for f in _froms(el)
        if _kind(type(f)) in (_ANNOTATED_TABLE, _ANNOTATED)
    ]
    return {table for el in named for table in _annotated_tables(el) if table in tables}


def _annotated_tables(element: Any) -> list[Any]:
    """The tables an ORM-annotated element stands for: a join's (a joined-inheritance
    entity is one) or :func:`_annotated_table`'s one."""
    if isinstance(element, Join):
        return [*_annotated_tables(element.left), *_annotated_tables(element.right)]
    return [_annotated_table(element)]


def _full_join_to_tenant(
    select: Select[Any], tables: frozenset[Table], names: frozenset[str]
) -> bool:
    """Whether ``select`` FULL OUTER JOINs a tenant table: the joined side's criterion goes
    to ON, which cannot drop the rows the join keeps from that side."""
    return any(
        flags.get("full") and _is_tenant_from(target, tables, names, entities=True)
        for target, _on, _left, flags in select._setup_joins
    )


def _expression_options_read_tenant(statement: Any) -> bool:
    """Whether a ``with_expression()`` option of ``statement`` reads a tenant table: the ORM
    adds its expression to the columns after loader criteria are applied."""
    for option in statement._with_options:
        for load in getattr(option, "context", ()):
            expression = dict(getattr(load, "strategy", None) or ()).get("query_expression")
            if expression and any(_tenant_table_use(e).touches for e in load._extra_criteria):
                return True
    return False


def _own_elements(top: Any) -> tuple[list[tuple[Any, int]], list[Any]]:
    """``top`` and the elements under it outside any nested SELECT (with their kinds), and
    those SELECTs."""
    own, nested, queue = [(top, _kind(type(top)))], [], list(top.get_children())
    while queue:
        el = queue.pop()
        kind = _kinds.get(type(el))
        if kind is None:
            kind = _kind(type(el))
        if kind == _SELECT:
            nested.append(el)
        else:
            own.append((el, kind))
            queue.extend(el.get_children())
    return own, nested


def _froms(select: Select[Any]) -> list[Any]:
    """The FROMs ``select`` was given explicitly: ``select_from()`` and ``join()``."""
    return [*select._from_obj, *(join[0] for join in select._setup_joins)]


def _annotated_table(element: Any) -> Any:
    """The table an ORM-annotated table or column stands for (an alias for an alias)."""
    return element if isinstance(element, TableClause) else getattr(element, "table", None)


def _is_tenant_from(
    element: Any, tables: frozenset[Table], names: frozenset[str], *, entities: bool = False
) -> bool:
    """Whether ``element``, a FROM given as written, reads a tenant table: the table
    itself, a Core alias of it, or a join holding one. An ORM entity's FROM counts only
    with ``entities``: loader criteria reach it, but cannot filter a FULL JOIN's side (a
    subquery is never a tenant FROM here: its own WHERE scopes it)."""
    if element is None or (not entities and isinstance(element, Annotated)):
        return False
    if isinstance(element, Join):
        return _is_tenant_from(element.left, tables, names, entities=entities) or (
            _is_tenant_from(element.right, tables, names, entities=entities)
        )
    if isinstance(element, Alias):
        return _is_tenant_from(element.element, tables, names, entities=entities)
    if isinstance(element, TableClause):
        return element in tables or element.name.lower() in names
    return False


# Mapper -> (the tenant_tables() it was checked against, whether a column_property it
# loads with its rows reads a tenant table).
_mapper_reads: weakref.WeakKeyDictionary[Any, tuple[frozenset[Table], bool]] = (
    weakref.WeakKeyDictionary()
)


def _loads_tenant_rows(state: ORMExecuteState) -> bool:
    """Whether an entity the statement loads has a ``column_property`` reading a tenant
    table: scoped in a tenant context, it would read every tenant's rows without one."""
    tables = _tenant_tables().tables
    for mapper in state.all_mappers:
        known = _mapper_reads.get(mapper)
        if known is None or known[0] is not tables:
            reads = any(
                _tenant_table_use(column).touches
                for prop in mapper.column_attrs
                if not prop.deferred
                for column in prop.columns
                if not isinstance(column, Column)
            )
            known = _mapper_reads[mapper] = (tables, reads)
        if known[1]:
            return True
    return False


def _on_execute(state: ORMExecuteState) -> None:
    if not _enabled:
        return
    if state.is_insert:
        _check_insert(state)
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    session = state.session
    if session.info.get(_UNSCOPED):
        _give_propagated_criteria_their_tenant(state)
        return
    tenant_id = session_tenant(session)
    if tenant_id is None:
        if _tenant_table_use(state.statement).touches or _loads_tenant_rows(state):
            raise NoTenantContext(
                "a tenant table was queried with no tenant context; "
                "enter tenant_scope() or, for maintenance, unscoped()"
            )
        return
    _refuse_core_use(state)
    params = state.parameters
    if params is not None and not isinstance(params, Mapping):
        # Several parameter sets: an ORM bulk UPDATE (or DELETE) by primary key. Its
        # WHERE is each row's key, which loader criteria do not reach: every row must
        # name the current tenant in its key instead.
        _check_bulk_rows(state, "updates and deletes by primary key")
        return
    if state.is_update:
        # The criterion limits which rows change, not what they become: a SET of
        # tenant_id would move this tenant's rows into another.
        sets = _own_rows(state.statement, params)
        if any(row.get("tenant_id", tenant_id) != tenant_id for row in sets):
            raise CrossTenantWrite("an update cannot move rows to another tenant")
    # One statement for every tenant, the tenant a parameter: the scoped copy of a
    # statement built once is made once too, and its cache key computed once.
    state.statement = _scoped(state.statement)
    state.parameters = {**(params or {}), TENANT_PARAM: tenant_id}


def _refuse_core_use(state: ORMExecuteState) -> None:
    """Loader criteria reach mapped classes only: a tenant table named through Core
    would be read or written for every tenant."""
    use = _tenant_table_use(state.statement)
    if use.through_core or (use.touches and not state.is_orm_statement):
        raise NoTenantContext(use.why)


def _check_insert(state: ORMExecuteState) -> None:
    """An INSERT must write the session's tenant only, and name its table by its class:
    a Core ``Table.insert()`` has no mapper, so its rows were never checked (SQLite took
    rows for another tenant, and with no tenant context at all)."""
    if state.session.info.get(_UNSCOPED):
        return
    _refuse_core_use(state)
    _, nested = _own_elements(state.statement)
    if any(_tenant_table_use(select).touches for select in nested):
        # Loader criteria scope SELECT, UPDATE and DELETE: a SELECT inside an INSERT
        # (a value, or from_select) read every tenant's rows.
        raise NoTenantContext(
            "a subquery reading a tenant table inside an INSERT is not scoped; "
            "read the value in a query of its own first"
        )
    _check_bulk_rows(state, "inserts")
    if state.bind_mapper is not None and is_tenant_scoped(state.bind_mapper.class_):
        _refuse_upsert_of_tenant(state.statement)


def _refuse_upsert_of_tenant(statement: Any) -> None:
    """An upsert's ``ON CONFLICT DO UPDATE SET`` (SQLite's and PostgreSQL's) must leave
    ``tenant_id`` alone: it rewrites the row already there, which the check of the
    inserted rows never sees (SQLite moved A's rows into B). Any value is refused, the
    current tenant's too: a conflict on a unique key without ``tenant_id`` finds another
    tenant's row, and a bind's value can be replaced at execution under a name (an
    anonymous bind's) that cannot be known here."""
    clause = getattr(statement, "_post_values_clause", None)
    sets = getattr(clause, "update_values_to_set", None) or ()
    items = sets.items() if isinstance(sets, Mapping) else sets  # a dict from 2.1, pairs before
    if any(str(getattr(column, "key", column)) == "tenant_id" for column, _ in items):
        raise CrossTenantWrite("an upsert cannot set tenant_id: it would move the existing row")
    if items and "tenant_id" not in _conflict_columns(statement, clause):
        # A conflict on a key without tenant_id can be with another tenant's row, which
        # DO UPDATE then rewrites.
        raise CrossTenantWrite(
            "an upsert's conflict target must include tenant_id: "
            "the row it updates could be another tenant's"
        )


def _conflict_columns(statement: Any, clause: Any) -> set[str]:
    """The columns an ``ON CONFLICT`` names: its index elements, or its constraint's."""
    names = {str(getattr(c, "key", c)) for c in clause.inferred_target_elements or ()}
    target = getattr(clause, "constraint_target", None)
    if target is not None:
        table = statement.table
        for constraint in [*table.constraints, *table.indexes]:
            if constraint.name == target:
                names.update(column.key for column in constraint.columns)
    return names


# The bind parameter the tenant criterion reads. A statement scoped without it fails
# to execute ("a value is required for bind parameter"): it cannot read all tenants.
TENANT_PARAM = "tenantry_tenant_id"

_TENANT = bindparam(TENANT_PARAM, type_=Uuid())
_SCOPE = _criteria(TenantScoped, lambda cls: cls.tenant_id == _TENANT, include_aliases=True)

# Statement -> its scoped copy, like _touches above: a statement built once is scoped
# once. Scoping a fresh copy at every execution made SQLAlchemy compute its cache key
# again (the whole statement walked, a correlated subquery included): ~1/8 of a page's
# CPU. The copy does not refer to the original, so weak keys still let per-call
# statements go.
_scoped_copies: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _scoped(statement: Any) -> Any:
    scoped = _scoped_copies.get(statement)
    if scoped is None:
        scoped = _scoped_copies[statement] = statement.options(_SCOPE)
    return scoped


def _check_bulk_rows(state: ORMExecuteState, what: str) -> None:
    mapper = state.bind_mapper
    if mapper is None:
        return
    rows = _own_rows(state.statement, state.parameters)
    _require_own_rows(state.session, mapper.class_, rows, what)


_EXPRESSION = object()  # a value written as SQL: it never names a tenant


def _own_rows(statement: Any, params: Any) -> list[dict[str, Any]]:
    """The rows an INSERT or UPDATE writes, by column key: its ``values()`` (one row or
    several) as each parameter set given at execution sends them."""
    table = getattr(statement, "table", None)
    columns = list(getattr(table, "columns", ()))
    several = [
        dict(zip(columns, row, strict=False)) if not isinstance(row, Mapping) else row
        for batch in getattr(statement, "_multi_values", None) or ()
        for row in batch
    ]
    written = several or [getattr(statement, "_values", None) or {}]
    given = [{}] if params is None else [params] if isinstance(params, Mapping) else list(params)
    rows = [
        _row_sent(row, index if several else None, extra)
        for index, row in enumerate(written)
        for extra in given
    ]
    return [row for row in rows if row] if params is None else rows


def _row_sent(
    row: Mapping[Any, Any], index: int | None, extra: Mapping[str, Any]
) -> dict[str, Any]:
    """``row`` of ``values()`` (``index`` of several) as sent with the parameters ``extra``:
    they fill in the columns it leaves out, and may replace those it names."""
    sent = dict(extra)
    for column, value in row.items():
        key = str(getattr(column, "key", column))
        sent[key] = _sent(value, key, index, extra)
    return sent


def _sent(value: Any, key: str, index: int | None, extra: Mapping[str, Any]) -> Any:
    """The value column ``key`` is sent for ``value`` of ``values()``: a parameter given at
    execution under the name of its bind replaces it (``bindparam("t", A)`` run with
    ``{"t": B}`` wrote B), and a plain value is bound under the column's name
    (``tenant_id``; ``tenant_id_m1`` in the second of several rows). Names that disagree:
    an expression, which names no tenant."""
    if isinstance(value, BindParameter):
        names: tuple[str, ...] = (value.key, key)
        default = value.effective_value
    elif isinstance(value, ClauseElement):
        return _EXPRESSION
    else:
        names, default = (key,), value
    if index is not None:
        names += (f"{key}_m{index}",)
    found = [extra[name] for name in names if name in extra] or [default]
    return found[0] if all(other == found[0] for other in found) else _EXPRESSION


def _require_own_rows(session: Session, cls: type, rows: Sequence[Any], what: str) -> None:
    """Every row (a mapping of column values) must name the session's tenant."""
    if not _enabled or not is_tenant_scoped(cls) or session.info.get(_UNSCOPED):
        return
    tenant_id = session_tenant(session)
    if tenant_id is None:
        raise NoTenantContext(f"bulk {what} on a tenant table with no tenant context")
    if not rows or any(row.get("tenant_id") != tenant_id for row in rows):
        raise CrossTenantWrite(f"bulk {what} must name the current tenant in every row")


class TenantSession(Session):
    """The session class of tenantry's factories (give it to a ``sessionmaker`` of your
    own that you scope): SQLAlchemy's legacy bulk methods write without the ORM events
    the scoping hooks listen to, so here they check their rows themselves."""

    def bulk_insert_mappings(self, mapper: Any, mappings: Any, *args: Any, **kw: Any) -> None:
        mappings = list(mappings)
        _require_own_rows(self, _class_of(mapper), mappings, "inserts")
        super().bulk_insert_mappings(mapper, mappings, *args, **kw)

    def bulk_update_mappings(self, mapper: Any, mappings: Any) -> None:
        mappings = list(mappings)
        _require_own_rows(self, _class_of(mapper), mappings, "updates")
        super().bulk_update_mappings(mapper, mappings)

    def bulk_save_objects(self, objects: Any, *args: Any, **kw: Any) -> None:
        objects = list(objects)
        for obj in objects:
            row = {"tenant_id": getattr(obj, "tenant_id", None)}
            _require_own_rows(self, type(obj), [row], "saves")
        super().bulk_save_objects(objects, *args, **kw)


def _class_of(mapper: Any) -> type:
    return mapper if isinstance(mapper, type) else mapper.class_


def _before_flush(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    session.info[_SCOPED] = True  # the row checks below act in scoped sessions only
    if not _enabled or session.info.get(_UNSCOPED):
        return
    # ``session.new`` builds a new set at each use: taken once, or a flush of n new rows
    # costs n^2 (20,000 rows of a CSV import took 20 s).
    new = [obj for obj in session.new if is_tenant_scoped(type(obj))]
    changed = [obj for obj in (*session.dirty, *session.deleted) if is_tenant_scoped(type(obj))]
    if not (new or changed):
        return
    tenant_id = session_tenant(session)
    if tenant_id is None:
        raise NoTenantContext("tenant rows were written with no tenant context")
    for obj in new:
        if obj.tenant_id is None:
            obj.tenant_id = tenant_id
    for obj in (*new, *changed):
        if obj.tenant_id != tenant_id:
            raise CrossTenantWrite(f"{type(obj).__name__} belongs to another tenant")


@event.listens_for(TenantScoped, "before_update", propagate=True)
@event.listens_for(TenantScoped, "before_delete", propagate=True)
def _before_row_write(mapper: Mapper[Any], connection: Any, target: Any) -> None:
    """A row is updated or deleted only if it is stored as the session's tenant's.

    :func:`_before_flush` checks the new ``tenant_id``, but the UPDATE's WHERE names the
    row's key as loaded: another tenant's object brought into the session (detached,
    or forged with ``make_transient_to_detached``) and given this tenant's id took that
    tenant's row over, and a collection without a backref rewrites ``tenant_id`` in the
    flush itself, after that check (SQLite; PostgreSQL's RLS matched no row). Here,
    once per row written, the identity is checked as the statement is about to run.
    """
    session = object_session(target)
    if session is None or not _enabled or not session.info.get(_SCOPED):
        return
    if session.info.get(_UNSCOPED):
        return
    tenant_id = session_tenant(session)
    if tenant_id is None:
        raise NoTenantContext("tenant rows were written with no tenant context")
    identity = instance_state(target).identity  # the stored key, as the WHERE names it
    if identity is None or identity[_tenant_position(mapper)] != tenant_id:
        raise CrossTenantWrite(f"{type(target).__name__} belongs to another tenant")


# Mapper -> where tenant_id is in its identity (first, unless a model says otherwise).
_positions: weakref.WeakKeyDictionary[Mapper[Any], int] = weakref.WeakKeyDictionary()


def _tenant_position(mapper: Mapper[Any]) -> int:
    position = _positions.get(mapper)
    if position is None:
        keys = [mapper.get_property_by_column(column).key for column in mapper.primary_key]
        position = _positions[mapper] = keys.index("tenant_id")
    return position


@contextmanager
def unscoped(session: Session, *, reason: str, actor_id: int | None = None) -> Iterator[Session]:
    """Turn scoping off for ``session`` inside the block: the only escape hatch.

    For platform administration and maintenance. The use is recorded as an
    audit event (flushed with the session, or at once in a transaction of its
    own when the session is read-only) and logged. On exit, objects of other
    tenants loaded inside the block leave the identity map.

    Args:
        session: the session to unscope.
        reason: why; stored in the audit trail.
        actor_id: the user acting, when there is one.
    """
    if not reason.strip():
        raise ValueError("unscoped() needs a reason")
    log.warning("unscoped session: %s (actor %s)", reason, actor_id)
    event = AuditEvent(action="unscoped", actor_id=actor_id, details={"reason": reason})
    if not defer_write(session, event):
        session.add(event)
    previous = session.info.get(_UNSCOPED)
    session.info[_UNSCOPED] = reason
    try:
        yield session
    finally:
        if previous is None:
            session.info.pop(_UNSCOPED, None)
        else:
            session.info[_UNSCOPED] = previous
        pinned = session.info.get(_PINNED)
        for obj in list(session.identity_map.values()):
            if is_tenant_scoped(type(obj)) and getattr(obj, "tenant_id", None) != pinned:
                session.expunge(obj)
            else:
                _forget_loaded_in_block(session, obj)


def _forget_loaded_in_block(session: Session, obj: object) -> None:
    """Expire what an object kept of other tenants' rows loaded inside :func:`unscoped`:
    its loaded relationships and SQL-expression attributes (a changed one is kept, with
    its change), so the next use loads them again, scoped."""
    state = inspect(obj)
    mapper = state.mapper
    names = [
        *mapper.relationships.keys(),
        *(
            prop.key
            for prop in mapper.column_attrs
            if not all(isinstance(column, Column) for column in prop.columns)
        ),
    ]
    loaded = [n for n in names if n not in state.unloaded and n not in state.committed_state]
    if loaded:
        session.expire(obj, loaded)


def _give_propagated_criteria_their_tenant(state: ORMExecuteState) -> None:
    """Inside :func:`unscoped`, a load that an object loaded in the tenant's scope starts
    (a lazy relationship) carries that scope's criterion: give it the pinned tenant, or
    it fails for want of a value."""
    pinned = state.session.info.get(_PINNED)
    params = state.parameters or {}
    if pinned is None or not state.is_select or not isinstance(params, Mapping):
        return
    if TENANT_PARAM not in params:
        state.parameters = {**params, TENANT_PARAM: pinned}
