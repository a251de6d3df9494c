"""FastAPI dependencies as ``Annotated`` aliases, so route signatures declare their needs.

``ViewerContext``, ``MemberContext``, ``AdminContext`` and ``OwnerContext`` are
the one mechanism for roles: a route names the lowest role it accepts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from contextvars import ContextVar
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import Session

from tenantry.accounts import check_session
from tenantry.context import TenantContext, current_tenant, tenant_scope
from tenantry.db import NotInline
from tenantry.errors import AuthenticationFailed, NoTenantSelected, PermissionDenied
from tenantry.plans import REQUESTS, require_feature
from tenantry.read_only import READ_ONLY, has_deferred_writes
from tenantry.roles import Role
from tenantry.scoping import bind_tenant, bound_context
from tenantry.security.tokens import AccessClaims
from tenantry.web.observe import note_actor
from tenantry.web.offload import finish_in_thread, in_thread
from tenantry.web.resolution import (
    TenantClaim,
    claim_from_request,
    resolve_and_set_tenant,
    resolve_membership,
    resolve_membership_inline,
)
from tenantry.web.turns import client_left

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

    from tenantry.async_db import AsyncSessions
    from tenantry.db import InlineReads
    from tenantry.placement import Location, Placements
    from tenantry.web.tenancy import Tenancy

T = TypeVar("T")


def get_tenancy(request: Request) -> Tenancy:
    tenancy: Tenancy = request.app.state.tenancy
    return tenancy


def commit(session: Session) -> None:
    """Commit ``session`` inside the tenant scope it was bound to (the final flush needs it)."""
    ctx = bound_context(session)
    with tenant_scope(ctx) if ctx is not None else nullcontext():
        session.commit()


def _commit_and_close(session: Session) -> None:
    try:
        commit(session)
    finally:
        session.close()


def _rollback_and_close(session: Session) -> None:
    try:
        session.rollback()
    except InvalidRequestError:
        # The failure came from a commit's own hooks (the deferred write of a read's
        # audit event met a busy writer): the transaction is over, nothing to roll back,
        # and the failure being handled is the one to answer.
        pass
    finally:
        session.close()


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _ends_without_io(session: Session, tenancy: Tenancy) -> bool:
    """Whether ending ``session``'s transaction is quick enough for the event loop.

    A read-only SQLite transaction with no audit event to write ends by dropping
    its WAL read mark: no I/O and no lock to wait for, cheaper than the hop to a
    thread (a GET's third). A commit that writes, a PostgreSQL round trip or a
    placed tenant's other database still go to a thread.
    """
    return (
        tenancy.db.is_sqlite
        and tenancy.placements is None
        and bool(session.info.get(READ_ONLY))
        and not has_deferred_writes(session)
    )


async def _finish(session: Session, end: Callable[[Session], None], tenancy: Tenancy) -> None:
    """Run ``end(session)`` (a commit) on the loop when that costs no I/O, else in a thread."""
    if _ends_without_io(session, tenancy):
        end(session)
    else:
        await finish_in_thread(end, session)


async def _session(request: Request) -> AsyncIterator[Session]:
    """One session per request, committed when the route returns without error.

    Safe methods (GET, HEAD, OPTIONS) get a read-only session: on SQLite it takes
    no lock, so reads never queue behind writers (:mod:`tenantry.read_only`).
    Use it in ``def`` routes: they run in worker threads, as do the membership
    check and the commit, so the event loop never waits on the database (an
    ``async def`` route may use it too, blocking the loop while it queries).

    The commit runs in teardown, after the route's tenant scope was left: the
    session carries its tenant (:func:`~tenantry.scoping.bind_tenant`), so
    changes a route leaves unflushed are written for that tenant, not lost.
    """
    tenancy = get_tenancy(request)
    read_only = request.method in SAFE_METHODS
    session = (tenancy.db.read_sessions if read_only else tenancy.db.sessions)()
    try:
        yield session
    except BaseException:
        await finish_in_thread(_rollback_and_close, session)
        raise
    if session.in_transaction():
        await _finish(session, _commit_and_close, tenancy)
    else:
        session.close()  # the tenant context committed already: no I/O left


DbSession = Annotated[Session, Depends(_session, scope="function")]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    cookie = get_tenancy(request).config.access_cookie
    if cookie:
        return request.cookies.get(cookie) or None
    return None


async def _token_claims(request: Request) -> AccessClaims:
    token = bearer_token(request)
    if token is None:
        raise AuthenticationFailed("sign in first: no access token")
    return get_tenancy(request).tokens.verify(token)


TokenClaims = Annotated[AccessClaims, Depends(_token_claims)]


async def _claims(request: Request, claims: TokenClaims, session: DbSession) -> AccessClaims:
    """The token's claims, once its user is known to exist and its session is not ended."""
    await _check(
        get_tenancy(request), session, check_session, claims.user_id, claims.session_version
    )
    return claims


def _inline_reads(tenancy: Tenancy, session: Session) -> InlineReads | None:
    """The event loop's own reads (:class:`~tenantry.db.InlineReads`) when the tenancy has
    them (an SQLite file) and the request's session has not begun: only that session
    sees its own uncommitted writes. ``None``: read in a thread, in that session."""
    return None if session.in_transaction() else tenancy.inline_reads


async def _check(tenancy: Tenancy, session: Session, check: Callable[..., T], *args: Any) -> T:
    """Run ``check(session, *args)``, a read of control tables, where it is cheapest."""
    reads = _inline_reads(tenancy, session)
    if reads is not None:
        return reads.read(check, *args)
    return await in_thread(_short_read, session, check, *args)


# The SQLite steps a route read may run on the event loop before it moves to a thread
# (~1-2.5 ms of SQL here): a page of 50 readings takes ~5k, a year's insights far more.
INLINE_READ_STEPS = 100_000
# The same for a route's unit of work on the loop: a reading's POST takes ~1.5k steps.
INLINE_WRITE_STEPS = 100_000


class _RouteWork:
    """What ``Reads`` and ``Writes`` hold: the tenancy and the request's session."""

    __slots__ = ("_session", "_tenancy")

    def __init__(self, tenancy: Tenancy, session: Session) -> None:
        self._tenancy = tenancy
        self._session = session


class QuickReads(_RouteWork):
    """Runs a route's reads where they cost least; the ``Reads`` dependency of ``async def``
    routes that only read.

    On an SQLite file the read runs on the event loop, in a read-only transaction of its
    own (:meth:`InlineReads.read_within <tenantry.db.InlineReads.read_within>`), unless
    its SQL outruns :data:`INLINE_READ_STEPS`: it is then interrupted and run again in a
    worker thread, so a tenant's heavy read never holds the loop that other tenants
    share. On PostgreSQL it runs on the loop too, through the async driver: its round
    trips are awaited, so a slow query holds up nobody else. With placements it runs on
    the loop only where the tenant's database is an SQLite file with a connection free
    (:meth:`Placements.inline_route <tenantry.placement.Placements.inline_route>`); there,
    elsewhere, or when the request's session already began, it runs in a thread on that
    session, as a ``def`` route would. Either way it reads inside the request's tenant, with the
    request's session settings (the plan catalogue), and fails closed outside a tenant.
    """

    __slots__ = ()

    async def run(self, read: Callable[..., T], *args: Any) -> T:
        """``read(session, *args)``: it must only read (its session refuses writes)."""
        ctx = current_tenant()
        tenancy, session = self._tenancy, self._session
        reads = _inline_reads(tenancy, session)
        route = None
        if reads is not None and tenancy.placements is not None:
            route = tenancy.placements.inline_route(session, ctx.tenant_id)
            if route is None:  # a server's database, or its pool is busy: in a thread
                reads = None
        if reads is not None:
            key = (read, ctx.tenant_id)
            try:
                return reads.read_within(INLINE_READ_STEPS, key, read, *args, route=route)
            except NotInline:
                pass
        elif tenancy.async_reads is not None and not session.in_transaction():
            return await _in_async_session(tenancy.async_reads, ctx, True, read, *args)
        return await in_thread(read, session, *args)


async def _in_async_session(
    sessions: AsyncSessions,
    ctx: TenantContext,
    read_only: bool,
    work: Callable[..., T],
    *args: Any,
) -> T:
    """``work(session, *args)`` in the transaction the membership check began when it is
    of the same kind (ADR 0007), else in a session of its own; a write is committed when
    it returns either way."""
    checked = _CHECKED.get()
    if checked is not None and bool(checked.info.get(READ_ONLY)) == read_only:
        result = await checked.run_sync(work, *args)
        if not read_only:  # a unit of work, committed when it returns, as everywhere else
            with anyio.CancelScope(shield=True):
                await checked.commit()
        return result
    async with sessions.session_for(ctx, read_only=read_only) as aio:
        return await aio.run_sync(work, *args)


async def _quick_reads(request: Request, session: DbSession) -> QuickReads:
    return QuickReads(get_tenancy(request), session)


Reads = Annotated[QuickReads, Depends(_quick_reads)]


class QuickWrites(_RouteWork):
    """Runs a route's unit of work where it costs least; the ``Writes`` dependency of
    ``async def`` routes that write.

    Each ``run`` is a unit of work, committed when it returns: a route failing after it
    keeps what it wrote. On an SQLite file (no placements) the work runs on the event loop
    when it can start without waiting and its SQL ends within :data:`INLINE_WRITE_STEPS`
    (:class:`~tenantry.inline_writes.InlineWrites`); otherwise it is rolled back and run
    again from the start in a worker thread, so keep a unit of work's effects in its
    session (and the hooks its commit runs). On PostgreSQL, through the async driver, the
    work runs on the loop in a write ``AsyncSession`` (its round trips awaited, no thread
    hop): the one the membership check began when the claim is known (ADR 0007), else one
    of its own. Elsewhere, or once the request's session has begun, it runs in a worker
    thread on the request's session, as a ``def`` route would, and that thread commits
    before it returns: the write lock is held for the work alone, not across the hops
    back to the loop and to a thread again for the commit. Quotas, audit and the other
    hooks apply alike; outside a tenant it fails closed.
    """

    __slots__ = ()

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """``work(session, *args)``, in the request's tenant."""
        ctx = current_tenant()
        tenancy, session = self._tenancy, self._session
        if not session.in_transaction():
            if tenancy.inline_writes is not None:
                try:
                    key = (work, ctx.tenant_id)
                    return tenancy.inline_writes.run_within(
                        INLINE_WRITE_STEPS, key, ctx, work, *args
                    )
                except NotInline:
                    pass
            elif tenancy.async_reads is not None:
                return await _in_async_session(tenancy.async_reads, ctx, False, work, *args)
        return await in_thread(_work_and_commit, work, session, *args)


def _work_and_commit(work: Callable[..., T], session: Session, *args: Any) -> T:
    """``work(session, *args)`` committed in the same worker thread (see :class:`QuickWrites`)."""
    result = work(session, *args)
    commit(session)
    return result


async def _quick_writes(request: Request, session: DbSession) -> QuickWrites:
    return QuickWrites(get_tenancy(request), session)


Writes = Annotated[QuickWrites, Depends(_quick_writes)]

# For routes outside a tenant (create one, join one, list mine): a checked signed-in person.
CurrentClaims = Annotated[AccessClaims, Depends(_claims)]


def dependency_calls(dependant: Dependant) -> Iterator[Any]:
    """Every callable a route's dependency tree calls, however deep."""
    for sub in dependant.dependencies:
        yield sub.call
        yield from dependency_calls(sub)


# What opens an async session for its route (``Reads``, ``Writes``; ``AsyncDbSession``
# adds itself).
ASYNC_SESSION_DEPENDENCIES: set[Callable[..., Any]] = {_quick_reads, _quick_writes}
_WORKS_ASYNC = "_tenantry_works_in_async_session"  # set on each route the first time it is asked


def _works_in_async_session(request: Request) -> bool:
    """Whether the request's route works through an async session (found once per route)."""
    route = request.scope.get("route")
    known: bool | None = getattr(route, _WORKS_ASYNC, None)
    if known is None:
        dependant = getattr(route, "dependant", None)
        known = dependant is not None and any(
            call in ASYNC_SESSION_DEPENDENCIES for call in dependency_calls(dependant)
        )
        if route is not None:
            setattr(route, _WORKS_ASYNC, known)
    return known


# The async session a request's membership check began (see _checked_in_transaction).
_CHECKED: ContextVar[AsyncSession | None] = ContextVar("tenantry_checked_session", default=None)


def checked_session() -> AsyncSession | None:
    """The async session the request's membership check began, for the route to use."""
    return _CHECKED.get()


@asynccontextmanager
async def _checked_in_transaction(
    tenancy: Tenancy,
    request: Request,
    session: Session,
    known: TenantContext,
    key: tuple[Any, ...],
    check: Callable[[Session], TenantContext],
) -> AsyncIterator[TenantContext]:
    """Check a known claim again as the first statement of an async session begun for
    its route, one that also sets the RLS tenant (:func:`resolve_and_set_tenant`); yield
    the context it gives (a new role or plan shows at once). The session is the route's
    (``Reads``, ``Writes``, ``AsyncDbSession``) and is committed when the block ends.
    """
    assert tenancy.async_reads is not None  # async_checks are async_reads
    read_only = request.method in SAFE_METHODS
    async with tenancy.async_reads.session_for(None, read_only=read_only) as aio:
        try:
            ctx = await aio.run_sync(check)
        except Exception:
            tenancy.recent_checks.failed(key)
            raise
        if ctx != known:
            tenancy.recent_checks.passed(key, ctx)
        bind_tenant(aio.sync_session, ctx)
        bind_tenant(session, ctx)
        token = _CHECKED.set(aio)
        try:
            yield ctx
        finally:
            _CHECKED.reset(token)


# What a dependency resolved before the request's tenant was known leaves for the tenant
# context to call once it is (see when_tenant_known).
_ON_TENANT = "tenantry.on_tenant"


def when_tenant_known(request: Request, serve: Callable[[TenantContext], Awaitable[None]]) -> None:
    """Have the request's tenant context await ``serve(ctx)`` once its membership passed.

    FastAPI resolves a route's dependencies in the order they are declared: an
    ``AsyncDbSession`` declared before ``MemberContext`` is made before the tenant is
    known, and torn down after the tenant scope was left, so it must be bound then.
    """
    request.scope.setdefault(_ON_TENANT, []).append(serve)


def _context_dependency(
    *, allow_suspended: bool
) -> Callable[[Request, Session, AccessClaims], AsyncIterator[TenantContext]]:
    async def tenant_context(
        request: Request, session: DbSession, claims: TokenClaims
    ) -> AsyncIterator[TenantContext]:
        tenancy = get_tenancy(request)
        claim = claim_from_request(
            request, claims.tenant_id, tenancy.config.base_domain, tenancy.config.tenant_header
        )
        if claim is None:
            # Signed in, no tenant: still 401 if the account or its session is gone.
            await _check(tenancy, session, check_session, claims.user_id, claims.session_version)
            raise NoTenantSelected("you belong to no tenant: create one or join one with a code")
        checked = (claim, claims.user_id, claims.session_version, tenancy.admit, allow_suspended)
        reads = _inline_reads(tenancy, session)
        # On PostgreSQL, a claim whose check passed lately, of a route working through an
        # async session, goes to its tenant's slot at once and is checked again in the
        # route's transaction (_checked_in_transaction): one session and one round trip
        # fewer. Any other claim is checked first, so naming another tenant never waits
        # in that tenant's slots. (A sync route would need a thread hop for it: measured
        # as no gain.)
        key = (claim, claims.user_id, claims.session_version, allow_suspended)
        later = (
            reads is None
            and tenancy.async_checks is not None
            and not session.in_transaction()
            and _works_in_async_session(request)
        )
        known = tenancy.recent_checks.get(key) if later else None
        # A wait below ends unanswered (Abandoned) if the client leaves meanwhile.
        gone = client_left(request.scope)
        # One of the *user's* slots (the user is known from the signed token), held from
        # the check to the commit whatever tenant the request names: one person's flood
        # queues here, on the loop, instead of filling the thread pool or the connection
        # pool ahead of everyone else's requests, even across the many tenants they may
        # own (an outside tester's 16 households held all ten of PostgreSQL's connections).
        async with tenancy.user_slots.hold(claims.user_id, until=gone):
            if reads is not None:  # on the loop: no I/O to wait for, no thread to share
                placements = tenancy.placements
                locate = None if placements is None else partial(placements.lookup_inline, reads)
                check = partial(resolve_membership_inline, reads)
                ctx = _resolve(session, check, *checked, placements, locate)
            elif known is not None:
                ctx = known
                tenancy.admit(ctx)
            else:
                if tenancy.async_checks is not None and not session.in_transaction():
                    ctx = await _resolve_async(tenancy.async_checks, session, checked)
                else:
                    check = partial(_short_read, session, resolve_membership)
                    ctx = await in_thread(_resolve, session, check, *checked, tenancy.placements)
                if later:
                    tenancy.recent_checks.passed(key, ctx)
            tenancy.meter.add(ctx.tenant_id, REQUESTS)
            note_actor(request, tenant_id=ctx.tenant_id, user_id=claims.user_id)
            # The tenant's slot is awaited holding no thread, connection or lock.
            async with tenancy.slots.hold(ctx.tenant_id, until=gone):
                if known is None:
                    checking: AbstractAsyncContextManager[TenantContext] = nullcontext(ctx)
                else:
                    check = partial(
                        resolve_and_set_tenant,
                        claim=claim,
                        user_id=claims.user_id,
                        session_version=claims.session_version,
                        allow_suspended=allow_suspended,
                    )
                    checking = _checked_in_transaction(tenancy, request, session, known, key, check)
                async with checking as ctx:
                    for serve in request.scope.pop(_ON_TENANT, ()):
                        await serve(ctx)
                    with tenant_scope(ctx):
                        yield ctx
                        # Commit inside the scope and the slot; on error _session rolls back.
                        if session.in_transaction():
                            await _finish(session, commit, tenancy)

    return tenant_context


_tenant_context = _context_dependency(allow_suspended=False)
# Only for what settles a suspension (the billing portal): everything else refuses it.
_tenant_context_even_suspended = _context_dependency(allow_suspended=True)


def _resolve(
    session: Session,
    check: Callable[..., TenantContext],
    claim: TenantClaim,
    user_id: int,
    session_version: int,
    admit: Callable[[TenantContext], None],
    allow_suspended: bool = False,
    placements: Placements | None = None,
    locate: Callable[[uuid.UUID], Location] | None = None,
) -> TenantContext:
    """Check the membership in a short read-only transaction and bind the session to it.

    ``check(claim, user_id, session_version=…, allow_suspended=…)`` is the membership
    check bound to where it reads: a bare connection of the SQLite file on the loop
    (:func:`resolve_membership_inline`), or :func:`_short_read` on a session. Ending that
    transaction before the route runs means nothing is held while the request waits for
    its tenant's slot or a thread. The same query checks the user, their session version
    and the membership; ``admit`` then counts the request against its tenant's and user's
    rate limits (429 past either). With placements configured (always in a thread, on
    ``session``), the same transaction reads the tenant's placement and the session's
    tenant tables are bound to its database; ``locate(tenant_id)`` reads the placement
    where ``check`` reads (both on the loop, an SQLite control database), else the same
    transaction on ``session`` does, in a thread.
    """
    location: Location | None = None
    if placements is None or locate is not None:
        ctx = check(
            claim, user_id, session_version=session_version, allow_suspended=allow_suspended
        )
        if locate is not None:
            location = locate(ctx.tenant_id)
    else:
        ctx, location = _short_read(
            session,
            _membership_and_placement,
            claim,
            user_id,
            session_version,
            placements,
            allow_suspended,
        )
    admit(ctx)
    bind_tenant(session, ctx)
    if placements is not None and location is not None:
        placements.bind(session, location, ctx.tenant_id)
    return ctx


async def _resolve_async(
    aio: AsyncSessions, session: Session, checked: tuple[Any, ...]
) -> TenantContext:
    """:func:`_resolve` on the loop, its one PostgreSQL round trip awaited (async driver)."""
    async with aio.read_sessions() as reader:
        return await reader.run_sync(
            lambda sync: _resolve(session, partial(_short_read, sync, resolve_membership), *checked)
        )


def _membership_and_placement(
    session: Session,
    claim: TenantClaim,
    user_id: int,
    session_version: int,
    placements: Placements,
    allow_suspended: bool,
) -> tuple[TenantContext, Location]:
    ctx = resolve_membership(
        session, claim, user_id, session_version=session_version, allow_suspended=allow_suspended
    )
    return ctx, placements.lookup(session, ctx.tenant_id)[0]


def _short_read(session: Session, check: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``check`` in a read-only transaction ended at once (or in the open one, if any).

    A writer's transaction would take SQLite's write lock (``BEGIN IMMEDIATE``)
    and hold it, or a pooled connection, while the request waits for a thread.
    """
    if session.in_transaction():  # an earlier dependency used the session: stay in it
        return check(session, *args, **kwargs)
    options: dict[str, Any] = {READ_ONLY: True}
    if session.get_bind().dialect.name == "postgresql":
        # One statement on control tables: autocommit saves BEGIN, the RLS setting and
        # ROLLBACK (three of a GET's eight round trips); tenant tables stay closed to it.
        options["isolation_level"] = "AUTOCOMMIT"
    session.connection(execution_options=options)
    try:
        return check(session, *args, **kwargs)
    finally:
        session.rollback()


TenantContextDep = Annotated[TenantContext, Depends(_tenant_context, scope="function")]


def require_role(minimum: Role) -> Callable[[TenantContext], Awaitable[TenantContext]]:
    """A dependency admitting members whose role is at least ``minimum``."""

    async def dependency(ctx: TenantContextDep) -> TenantContext:
        if not ctx.role.at_least(minimum):
            raise PermissionDenied(f"this needs the {minimum.value} role or higher")
        return ctx

    dependency.__tenantry_min_role__ = minimum  # type: ignore[attr-defined]
    return dependency


def requires_feature(
    feature: str, role: Role = Role.VIEWER
) -> Callable[[Session, TenantContext], Awaitable[TenantContext]]:
    """A dependency admitting members of at least ``role`` whose tenant's plan includes
    ``feature``: ``dependencies=[Depends(requires_feature("csv_import", Role.MEMBER))]``.

    The role is checked first (``403``): a viewer is not told to upgrade for what no plan
    lets a viewer do. Then ``402 feature_not_in_plan``, naming the plan that has it.
    """

    async def dependency(
        session: DbSession, ctx: TenantContext = Depends(require_role(role))
    ) -> TenantContext:
        await in_thread(require_feature, session, ctx.tenant_id, feature)
        return ctx

    dependency.__tenantry_feature__ = feature  # type: ignore[attr-defined]
    return dependency


ViewerContext = Annotated[TenantContext, Depends(require_role(Role.VIEWER))]
MemberContext = Annotated[TenantContext, Depends(require_role(Role.MEMBER))]
AdminContext = Annotated[TenantContext, Depends(require_role(Role.ADMIN))]
OwnerContext = Annotated[TenantContext, Depends(require_role(Role.OWNER))]


async def _owner_even_suspended(
    ctx: Annotated[TenantContext, Depends(_tenant_context_even_suspended, scope="function")],
) -> TenantContext:
    if not ctx.role.at_least(Role.OWNER):
        raise PermissionDenied(f"this needs the {Role.OWNER.value} role or higher")
    return ctx


_owner_even_suspended.__tenantry_min_role__ = Role.OWNER  # type: ignore[attr-defined]
# An owner of an active *or suspended* tenant: for the routes that let them pay and resume.
SuspendedOwnerContext = Annotated[TenantContext, Depends(_owner_even_suspended)]
