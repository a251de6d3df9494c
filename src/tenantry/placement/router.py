"""``Placements``: binds a tenant's session to the database that holds its rows.

One ``Session`` serves a request. Control tables (users, memberships, tenants,
invites, audit, plans) always live in the control database, the session's own
bind. Once the request's tenant is known, :meth:`Placements.route` binds the
``TenantScoped`` classes to the tenant's database with ``Session.bind_mapper``,
so every scoped query and flush goes there, through the same session and so
through every hook installed on it: scoping, RLS context, read-only guard,
quotas, row audit. A session routed to one database refuses any other, and a
connection to a dedicated database refuses a session of any other tenant.

Writes are guarded for moves: before a session's first write of tenant rows in
a transaction, it takes the tenant's write barrier in the tenant's database
(SQLite: the ``BEGIN IMMEDIATE`` lock it already holds; PostgreSQL: a shared
advisory lock) and then reads the placement: a tenant being moved is read-only.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, bindparam, inspect, select, text
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction
from sqlalchemy.pool import QueuePool

from tenantry.advisory_locks import LockSpace, xact_lock
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database, InlineReads, make_engine
from tenantry.hooks import listen, set_info
from tenantry.ids import TenantId
from tenantry.migrations.runner import check_version_dirs
from tenantry.models import Membership, Tenant, User
from tenantry.models.base import TenantScoped, is_tenant_scoped
from tenantry.models.placement import PlacementKind, PlacementState, TenantPlacement
from tenantry.placement import provision
from tenantry.placement.config import PlacementConfig, PlacementConfigError, Server, parsed_url
from tenantry.placement.engines import CachedEngine, EngineCache
from tenantry.placement.location import (
    SHARED,
    Location,
    PlacementMismatch,
    TenantReadOnly,
)
from tenantry.placement.policy import choose
from tenantry.placement.siblings import SiblingEngines
from tenantry.read_only import READ_ONLY, read_only_options
from tenantry.roles import Role
from tenantry.scoping import bind_tenant, session_tenant
from tenantry.tenant_writes import PLACEMENTS_INFO

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from tenantry.async_db import AsyncSessions
    from tenantry.placement.upgrade import Outcome

log = logging.getLogger("tenantry.placement")

_ROUTED = "tenantry.placement"
_GUARDED = "tenantry.placement_guarded"
_ROUTER = PLACEMENTS_INFO
_ROUTING = "tenantry.placement_routing"
_NEW_TENANTS = "tenantry.placement_new"
_VERIFIED = "tenantry.placement_verified"
_LOOKUP = select(
    TenantPlacement.kind, TenantPlacement.server, TenantPlacement.database, TenantPlacement.state
).where(TenantPlacement.tenant_id == bindparam("tenant_id"))
_SHARED_LOCK = text("SELECT pg_advisory_xact_lock_shared(:key)")


def barrier_key(tenant_id: uuid.UUID) -> int:
    """The tenant's advisory-lock key on PostgreSQL (a signed 64-bit number)."""
    key = tenant_id.int >> 64
    return key - (1 << 64) if key >= 1 << 63 else key


def routed_location(session: Session) -> Location | None:
    """The placement ``session`` was routed to, if any."""
    loc: Location | None = session.info.get(_ROUTED)
    return loc


def route_like(session: Session, like: Session, tenant_id: uuid.UUID) -> None:
    """Bind ``session`` to the database ``like`` (a request's session) was routed to.

    For work that outlives the request's session: streamed downloads.
    """
    location = like.info.get(_ROUTED)
    router: Placements | None = like.info.get(_ROUTER)
    if location is not None and router is not None:
        router.bind(session, location, tenant_id)


class Placements:
    """The placement configuration at work: policy, engines per database, routing, guards.

    Args:
        config: servers, policy and engine-cache bounds.
        control: the control database (and the shared tables).
        version_dirs: the plugins' migration directories, applied to new databases too.
        app_dir: an app's migrations directory (``tenantry migrations init``), if any.
        prepare: run on each new database after its migrations (tests: test-only tables).
    """

    def __init__(
        self,
        config: PlacementConfig,
        control: Database,
        *,
        version_dirs: Sequence[Path] = (),
        app_dir: Path | None = None,
        prepare: Callable[[Engine], None] | None = None,
    ) -> None:
        self.config = config
        self.prepare = prepare  # after the migrations, on a new database (test-only tables)
        self.control = control
        self.version_dirs = list(version_dirs)
        try:  # found now, not when the first new tenant fails to be placed
            check_version_dirs(self.version_dirs)
        except ValueError as exc:
            raise PlacementConfigError(str(exc)) from None
        self.app_dir = app_dir
        self._siblings = SiblingEngines(pool_size=config.pool_size)
        # Connections a dedicated database's pool gives out before a caller waits.
        self._capacity = self._siblings.pool_size + self._siblings.max_overflow
        self.engines = EngineCache(
            self._make_engine, capacity=config.max_engines, idle_seconds=config.idle_seconds
        )
        self._owners: dict[Any, uuid.UUID] = {}
        self._aio: OrderedDict[str, AsyncEngine] = OrderedDict()
        self._aio_lock = threading.Lock()
        # Weak, not id(): a new AsyncSessions may reuse a collected one's id, and would then
        # go without the guards.
        self._async_installed: weakref.WeakSet[AsyncSessions] = weakref.WeakSet()

    # -- engines -------------------------------------------------------------------------

    def _make_engine(self, url: str) -> Engine:
        return self._siblings.make(url)

    def url_of(self, location: Location, *, role: str = "runtime") -> str:
        """The URL of a dedicated ``location`` (the control database's for ``shared``)."""
        if location.is_shared or location.server is None or location.database is None:
            return self.control.url
        return self.config.server(location.server).database_url(location.database, role=role)

    def engine_for(self, location: Location, tenant_id: uuid.UUID) -> CachedEngine:
        url = self.url_of(location)
        entry = self.engines.get(url)
        self._owners[_owner_key(url)] = tenant_id
        return entry

    def async_engine_for(self, location: Location, tenant_id: uuid.UUID) -> AsyncEngine:
        """The async twin of :meth:`engine_for` (``AsyncDbSession`` routes), capped alike."""
        from tenantry.async_db import make_async_engine

        url = self.url_of(location)
        with self._aio_lock:
            engine = self._aio.get(url)
            if engine is not None:
                self._aio.move_to_end(url)
                return engine
            engine = make_async_engine(url, pool_size=self.config.pool_size, max_overflow=2)
            self._aio[url] = engine
            self._owners[_owner_key(url)] = tenant_id
            evicted = []
            while len(self._aio) > self.config.max_engines:
                evicted.append(self._aio.popitem(last=False)[1])
        for old in evicted:
            _dispose_async(old)
        return engine

    # -- routing -------------------------------------------------------------------------

    def lookup(self, session: Session, tenant_id: uuid.UUID) -> tuple[Location, str]:
        """The tenant's placement and state, read in ``session`` (no row: shared)."""
        row = session.execute(_LOOKUP, {"tenant_id": tenant_id}).first()
        if row is None:
            return SHARED, PlacementState.ACTIVE.value
        return Location(row.kind, row.server, row.database), row.state

    def lookup_inline(self, reads: InlineReads, tenant_id: uuid.UUID) -> Location:
        """:meth:`lookup`'s location as a lone ``SELECT`` of an SQLite control database,
        on the event loop (:meth:`InlineReads.first <tenantry.db.InlineReads.first>`)."""
        row = reads.first(_LOOKUP, {"tenant_id": tenant_id})
        return SHARED if row is None else Location(row[0], row[1], row[2])

    def inline_route(self, like: Session, tenant_id: uuid.UUID) -> Callable[[Session], None] | None:
        """How a read on the event loop reaches the database ``like`` (the request's
        session) was routed to, or ``None``: read in a thread, on ``like``.

        Only a local SQLite file can be read on the loop: a server's round trips would
        block it. So can only a pool with a connection free: waiting for one that a
        thread holds (a download, a write) would block it too.
        """
        location: Location | None = like.info.get(_ROUTED)
        if location is None:
            return None
        if not location.is_shared:
            entry = self.engine_for(location, tenant_id)
            pool = entry.engine.pool
            busy = pool.checkedout() if isinstance(pool, QueuePool) else 0
            if entry.engine.dialect.name != "sqlite" or busy >= self._capacity:
                return None
        return lambda session: self.bind(session, location, tenant_id)

    def install_inline(self, reads: InlineReads) -> None:
        """Route and check the event loop's reads (:class:`~tenantry.db.InlineReads`) as
        the request sessions are: an unrouted tenant query is routed, and a connection to a
        tenant's database serves only that tenant."""
        listen(reads.sessions, "after_begin", self._check_owner)
        listen(reads.sessions, "do_orm_execute", self._route_on_use)

    def lock_tenant_database(self, session: Session, tenant_id: uuid.UUID) -> None:
        """The placement's part of :func:`~tenantry.tenant_writes.lock_tenant_writes`:
        in a PostgreSQL database of the tenant's own, an exclusive transaction-level
        advisory lock (:data:`~tenantry.advisory_locks.LockSpace.TENANT_WRITES`), released
        with the tenant rows' commit. In the shared database the tenant row's lock is
        enough; an SQLite database's ``BEGIN IMMEDIATE`` already holds its write lock."""
        if session.info.get(_ROUTED) is None:
            self._route_unrouted(session)
        location = session.info.get(_ROUTED)
        if location is None or location.is_shared:
            return
        entry = self.engine_for(location, tenant_id)
        engine = entry.reader if session.info.get(READ_ONLY) else entry.engine
        conn = session.connection(bind_arguments={"bind": engine})
        xact_lock(conn, LockSpace.TENANT_WRITES, tenant_id)

    def route(self, session: Session, tenant_id: uuid.UUID) -> Location:
        """Look the tenant's placement up and bind ``session``'s tenant tables to it."""
        location, _state = self.lookup(session, tenant_id)
        self.bind(session, location, tenant_id)
        return location

    def bind(self, session: Session, location: Location, tenant_id: uuid.UUID) -> None:
        """Bind ``session``'s ``TenantScoped`` classes to ``location`` (once; never another).

        Raises:
            PlacementMismatch: the session was routed elsewhere before.
        """
        previous = session.info.get(_ROUTED)
        if previous is not None:
            if previous != location:
                raise PlacementMismatch("this session already serves another tenant database")
            return
        session.info[_ROUTED] = location
        session.info[_ROUTER] = self
        if location.is_shared:
            return
        entry = self.engine_for(location, tenant_id)
        session.bind_mapper(
            TenantScoped, entry.reader if session.info.get(READ_ONLY) else entry.engine
        )

    def bind_async(self, session: AsyncSession, location: Location, tenant_id: uuid.UUID) -> None:
        """:meth:`bind` for an ``AsyncSession``: tenant tables to ``location``'s async engine."""
        sync = session.sync_session
        previous = sync.info.get(_ROUTED)
        if previous is not None:
            if previous != location:
                raise PlacementMismatch("this session already serves another tenant database")
            return
        sync.info[_ROUTED] = location
        sync.info[_ROUTER] = self
        if location.is_shared:
            return
        engine = self.async_engine_for(location, tenant_id)
        if sync.info.get(READ_ONLY):
            engine = engine.execution_options(**read_only_options(engine.dialect.name))
        sync.bind_mapper(TenantScoped, engine.sync_engine)

    def install_async(self, sessions: AsyncSessions) -> None:
        """Guard writes and check connections on an ``AsyncSessions``' session classes (once)."""
        if sessions in self._async_installed:
            return
        self._async_installed.add(sessions)
        for factory in (sessions.sessions, sessions.read_sessions):
            cls = factory.kw["sync_session_class"]
            listen(cls, "after_begin", self._check_owner)
        write_class = sessions.sessions.kw["sync_session_class"]
        listen(write_class, "before_flush", self._guard_flush)
        listen(write_class, "do_orm_execute", self._guard_statement)

    @contextmanager
    def session(
        self, tenant_id: uuid.UUID, *, read_only: bool = False, role: Role = Role.OWNER
    ) -> Iterator[Session]:
        """A session of the control database routed to the tenant's placement, in its scope.

        For work outside a request (CLI, jobs, exports): committed on success.
        """
        factory = self.control.read_sessions if read_only else self.control.sessions
        ctx = TenantContext(TenantId(tenant_id), None, role)
        with factory() as session, tenant_scope(ctx):
            bind_tenant(session, ctx)
            session.connection(execution_options={READ_ONLY: True})
            try:
                self.route(session, tenant_id)
            finally:
                session.rollback()
            with session.begin():
                yield session

    # -- hooks ---------------------------------------------------------------------------

    def install(self, db: Database) -> None:
        """Guard writes and check connections on ``db``'s sessions; place new tenants."""
        set_info(db.sessions, _ROUTER, self)  # found by lock_tenant_writes before routing
        for factory in (db.sessions, db.read_sessions):
            listen(factory, "after_begin", self._check_owner)
            listen(factory, "do_orm_execute", self._route_on_use)
        listen(db.sessions, "before_flush", self._guard_flush)
        listen(db.sessions, "do_orm_execute", self._guard_statement)
        if self.config.default != PlacementKind.SHARED.value or any(
            kind != PlacementKind.SHARED.value for kind in self.config.plans.values()
        ):
            listen(db.sessions, "after_flush", self._note_new_tenants)
            listen(db.sessions, "after_commit", self._place_new_tenants)
            listen(db.sessions, "after_soft_rollback", self._forget_new_tenants)

    def _check_owner(
        self, session: Session, _tx: SessionTransaction, connection: Connection
    ) -> None:
        owner = self._owners.get(_owner_key(connection.engine.url))
        if owner is None:
            return
        if session_tenant(session) != owner:
            raise PlacementMismatch("a connection to a tenant's database served another tenant")

    def _route_on_use(self, state: ORMExecuteState) -> None:
        """A session not routed yet (a job's, a script's) is routed at its first tenant query."""
        if _ROUTED in state.session.info:
            return
        mapper = state.bind_mapper
        if mapper is not None and is_tenant_scoped(mapper.class_):
            self._route_unrouted(state.session)

    def _route_unrouted(self, session: Session) -> None:
        if session.info.get(_ROUTING):
            return
        tenant_id = session_tenant(session)
        if tenant_id is None:
            return  # no tenant (or unscoped): scoping decides, the shared tables are read
        session.info[_ROUTING] = True
        try:
            self.route(session, tenant_id)
        finally:
            session.info.pop(_ROUTING, None)

    def _guard_flush(self, session: Session, _flush: UOWTransaction, _instances: Any) -> None:
        new = [o for o in session.new if is_tenant_scoped(type(o))]
        changed = new or [
            o for o in (*session.dirty, *session.deleted) if is_tenant_scoped(type(o))
        ]
        if changed:
            self._guard(session, type(changed[0]), new)

    def _guard_statement(self, state: ORMExecuteState) -> None:
        if not (state.is_insert or state.is_update or state.is_delete):
            return
        mapper = state.bind_mapper
        if mapper is not None and is_tenant_scoped(mapper.class_):
            self._guard(state.session, mapper.class_, [])

    def _guard(self, session: Session, cls: type, new: list[Any]) -> None:
        if session.info.get(_ROUTED) is None:
            self._route_unrouted(session)
        location = session.info.get(_ROUTED)
        if location is None:
            return  # no tenant: scoping refuses the write, or an unscoped maintenance session
        tenant_id = session_tenant(session)
        if tenant_id is None:
            return  # scoping refuses the write
        tx = session.get_transaction()
        if session.info.get(_GUARDED) is not tx:
            conn = session.connection(bind_arguments={"mapper": cls})
            if conn.dialect.name == "postgresql":
                conn.execute(_SHARED_LOCK, {"key": barrier_key(tenant_id)})
            # On SQLite the connection began IMMEDIATE: the write lock is held already.
            now, state = self.lookup(session, tenant_id)
            if state != PlacementState.ACTIVE.value or now != location:
                raise TenantReadOnly(
                    "this tenant is being moved to another database: it is read-only for now; "
                    "try again in a moment"
                )
            session.info[_GUARDED] = tx
        if new and not location.is_shared:
            conn = session.connection(bind_arguments={"mapper": cls})
            provision.ensure_user_stubs(conn, _user_refs(new))

    def _note_new_tenants(self, session: Session, _flush: UOWTransaction) -> None:
        fresh = [(o.id, o.plan) for o in session.new if isinstance(o, Tenant)]
        if fresh:
            session.info.setdefault(_NEW_TENANTS, []).extend(fresh)
        verified = [o.id for o in session.dirty if isinstance(o, User) and _just_verified(o)]
        if verified:
            session.info.setdefault(_VERIFIED, []).extend(verified)

    def _forget_new_tenants(self, session: Session, previous: SessionTransaction) -> None:
        if not previous.nested:  # a savepoint's rollback leaves the outer tenants standing
            session.info.pop(_NEW_TENANTS, None)
            session.info.pop(_VERIFIED, None)

    def _place_new_tenants(self, session: Session) -> None:
        # after_commit also fires when a savepoint is released: the outer transaction
        # still holds the write lock (SQLite) and has not committed the tenant yet.
        root = session.get_transaction()
        if root is not None and root.is_active:
            return
        created = session.info.pop(_NEW_TENANTS, [])
        verified = session.info.pop(_VERIFIED, [])
        if not (created or verified):
            return
        with self.control.read_sessions() as control:
            waiting = _owned_by_unverified(control, [t for t, _ in created])
            created += _unplaced_tenants_of(control, verified)
        for tenant_id, plan in created:
            if tenant_id in waiting:
                # A sign-up not confirmed yet gets no database: a script signing up
                # addresses it does not own would make one each. Placed on confirmation.
                log.info("tenant %s waits for its owner's confirmed address", tenant_id)
                continue
            try:
                self.place_created(tenant_id, plan=plan)
            except Exception:  # the tenant stays shared, which is always correct
                log.exception("placing new tenant %s failed; it stays shared", tenant_id)

    # -- placing -------------------------------------------------------------------------

    def migrate_server_database(self, server: Server, database: str) -> None:
        """Create (if missing) and migrate ``database`` on ``server``."""
        from tenantry.placement.upgrade import upgrade_database

        upgrade_database(server, database, self.version_dirs, self.app_dir, self.prepare)

    def migrate_all(
        self, *, jobs: int = 4, on_done: Callable[[Outcome], None] | None = None
    ) -> list[Outcome]:
        """Migrate every dedicated database (the control database is the caller's)."""
        from tenantry.placement.upgrade import dedicated_locations, migrate_all

        return migrate_all(
            self.config,
            dedicated_locations(self.control.engine),
            version_dirs=self.version_dirs,
            app_dir=self.app_dir,
            prepare=self.prepare,
            jobs=jobs,
            on_done=on_done,
        )

    def provision(self, location: Location, tenant_id: uuid.UUID) -> None:
        """Make ``location`` ready for the tenant: database, schema, the tenant's row."""
        if location.is_shared or location.server is None or location.database is None:
            return
        server = self.config.server(location.server)
        try:
            self.migrate_server_database(server, location.database)
            engine = make_engine(server.database_url(location.database, role="migration"))
            try:
                with self.control.engine.connect() as control, engine.begin() as target:
                    provision.copy_tenant_row(control, target, tenant_id)
            finally:
                engine.dispose()
        except BaseException:
            # Half made, the database would be a stray file or database nothing serves;
            # the tenant stays where it was, complete.
            with suppress(Exception):
                self.drop_dedicated(location)
            raise

    def drop_dedicated(self, location: Location) -> None:
        """Close the engine of a dedicated ``location`` and remove its database for good."""
        self.engines.discard(self.url_of(location))
        provision.drop_database(self.config.server(location.server or ""), location.database or "")

    def place(
        self,
        tenant_id: uuid.UUID,
        *,
        plan: str | None = None,
        kind: str | None = None,
        server: str | None = None,
    ) -> Location:
        """Give a tenant with no rows yet its placement by the policy (or ``kind``/``server``)."""
        with self.control.session() as session:
            location = choose(session, self.config, tenant_id, plan, kind=kind, server=server)
        if location.is_shared:
            return location
        self.provision(location, tenant_id)
        with self.control.session() as session:
            session.merge(
                TenantPlacement(
                    tenant_id=tenant_id,
                    kind=location.kind,
                    server=location.server,
                    database=location.database,
                    state=PlacementState.ACTIVE.value,
                )
            )
        log.info("tenant %s placed: %s", tenant_id, location.describe())
        return location

    def place_created(self, tenant_id: uuid.UUID, *, plan: str | None) -> Location:
        """Place a tenant just created by the policy: moved if its creation wrote rows already
        (an import), so no row is left behind in the shared tables."""
        from tenantry.placement.move import move_tenant

        with self.control.read_sessions() as session:
            location = choose(session, self.config, tenant_id, plan)
        if location.is_shared:
            return location
        return move_tenant(self, tenant_id, to=location.kind, server=location.server).target

    def purge_expired(self, session: Session, **kwargs: Any) -> list[Any]:
        """The purge job with placements: purged tenants' own databases are dropped too."""
        from tenantry.placement.purge import purge_with_databases

        return purge_with_databases(session, self, **kwargs)

    def dispose(self) -> None:
        self.engines.close()
        with self._aio_lock:
            engines = list(self._aio.values())
            self._aio.clear()
        for engine in engines:
            _dispose_async(engine)


def _owner_key(url: Any) -> tuple[Any, ...]:
    """A database's identity whatever the driver (sync and async engines of one database)."""
    u = parsed_url(url)
    return (u.get_backend_name(), u.host, u.port, u.database, tuple(sorted(u.query.items())))


_PENDING: set[asyncio.Task[None]] = set()


def _dispose_async(engine: AsyncEngine) -> None:
    """Close an async engine's pool from sync code, with or without a running loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(engine.dispose())
        return
    task = loop.create_task(engine.dispose())
    _PENDING.add(task)
    task.add_done_callback(_PENDING.discard)


def _just_verified(user: User) -> bool:
    """Whether this flush confirms ``user``'s address for the first time."""
    history = inspect(user).attrs.email_verified_at.history
    return next(iter(history.added), None) is not None and not any(history.deleted)


def _owned_by_unverified(session: Session, tenant_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """The tenants among ``tenant_ids`` whose owners have not confirmed their address (a
    tenant without an owner yet, an import inviting its owner, is not among them)."""
    if not tenant_ids:
        return set()
    owners: dict[uuid.UUID, list[bool]] = {}
    rows = session.execute(
        select(Membership.tenant_id, User.email_verified_at.is_not(None))
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id.in_(tenant_ids), Membership.role == Role.OWNER.value)
    )
    for tenant_id, confirmed in rows:
        owners.setdefault(tenant_id, []).append(bool(confirmed))
    return {tenant_id for tenant_id, confirmed in owners.items() if not any(confirmed)}


def _unplaced_tenants_of(session: Session, user_ids: list[int]) -> list[tuple[uuid.UUID, str]]:
    """The tenants the users own that were never placed (no placement row): those a sign-up
    made, waiting for the address to be confirmed."""
    if not user_ids:
        return []
    placed = select(TenantPlacement.tenant_id).where(TenantPlacement.tenant_id == Tenant.id)
    rows = session.execute(
        select(Tenant.id, Tenant.plan)
        .join(Membership, Membership.tenant_id == Tenant.id)
        .where(
            Membership.user_id.in_(user_ids),
            Membership.role == Role.OWNER.value,
            ~placed.exists(),
        )
    )
    return [(tenant_id, plan) for tenant_id, plan in rows]


def _user_refs(objects: list[Any]) -> set[int]:
    ids: set[int] = set()
    for obj in objects:
        table = type(obj).__table__
        for fk in table.foreign_keys:
            if fk.column.table.name == User.__tablename__:
                prop = type(obj).__mapper__.get_property_by_column(fk.parent)
                value = getattr(obj, prop.key, None)
                if isinstance(value, int):
                    ids.add(value)
    return ids
