"""One tenant's slow queries and floods do not hold up another tenant or the process.

The slow query is made slow on purpose and released by the test: a SQLite
function that blocks on an event, a PostgreSQL advisory lock the test holds.
While it runs, other requests must complete - no timing is measured.
"""

from __future__ import annotations

import inspect
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import anyio
import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.orm import Session
from starlette.types import Message

from tenantry.db import Database
from tenantry.plans import catalogue_of
from tenantry.testing import invite_and_join
from tenantry.web import (
    AsyncDbSession,
    DbSession,
    Reads,
    Tenancy,
    ViewerContext,
    Writes,
    get_tenancy,
)
from tenantry_server.app import create_app, default_plugins
from tenantry_server.settings import Settings
from tests.conftest import FAST_PASSWORDS, is_postgres, only_sqlite, register
from tests.support.routes import server_with

LOCK_KEY = 4242
router = APIRouter(prefix="/api/slow")


@router.get("")
def slow(ctx: ViewerContext, session: DbSession) -> dict[str, Any]:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
    else:
        session.execute(select(func.tenantry_test_wait()))
    return {"done": True}


@router.get("/async")
async def slow_async(ctx: ViewerContext, session: AsyncDbSession) -> dict[str, Any]:
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
    else:
        await session.execute(select(func.tenantry_test_wait()))
    return {"done": True}


# Slow for SQLite in both ways: ~2M steps (past the loop's budget for a route read), then
# the gate. On the loop the step budget cuts it before the gate; in a thread it waits there.
_STEPS_THEN_GATE = text(
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 200000) "
    "SELECT count(*) + tenantry_test_wait() FROM r"
)


def _steps_then_gate(session: Session) -> int:
    if session.get_bind().dialect.name == "postgresql":
        return int(session.execute(select(func.pg_advisory_xact_lock(LOCK_KEY))).scalar() or 0)
    return int(session.execute(_STEPS_THEN_GATE).scalar_one())


@router.get("/reads")
async def slow_reads(ctx: ViewerContext, reads: Reads) -> dict[str, Any]:
    await reads.run(_steps_then_gate)
    return {"done": True}


@router.post("/writes")
async def slow_writes(ctx: ViewerContext, writes: Writes) -> dict[str, Any]:
    await writes.run(_steps_then_gate)  # on SQLite: cut short on the loop, then a thread
    return {"done": True}


@router.get("/ran")
def ran(ctx: ViewerContext, request: Request) -> dict[str, Any]:
    request.app.state.ran.append(ctx.user_id)
    return {"ran": True}


@router.get("/where")
async def where_reads_run(ctx: ViewerContext, reads: Reads, request: Request) -> dict[str, Any]:
    reader, catalogue = await reads.run(lambda s: (threading.get_ident(), catalogue_of(s)))
    return {
        "on_the_loop": reader == threading.get_ident(),
        "host_catalogue": catalogue is get_tenancy(request).catalogue,
    }


class Gate:
    """The SQLite side of the slow query: blocks until released, counts who is inside."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self._lock = threading.Lock()
        self.inside = 0
        self.most_inside = 0

    def wait(self) -> int:
        with self._lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        try:
            self.released.wait(timeout=60)
        finally:
            with self._lock:
                self.inside -= 1
        return 1


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def slow_client(settings: Settings, gate: Gate) -> Iterator[TestClient]:
    with _slow_client(settings, gate, tenant_concurrency=2) as client:
        yield client


@contextmanager
def _slow_client(
    settings: Settings, gate: Gate, *, tenant_concurrency: int
) -> Iterator[TestClient]:
    settings = settings.model_copy(update={"tenant_concurrency": tenant_concurrency})
    app = server_with(settings, "slow", router)
    app.state.ran = []
    db: Database = app.state.tenancy.db

    def register_wait(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.create_function("tenantry_test_wait", 0, gate.wait)

    if db.is_sqlite:
        event.listen(db.engine, "connect", register_wait)
        event.listen(db.aio.engine.sync_engine, "connect", register_wait)
        for inline in (db.inline_reads(), db.inline_writes()):
            assert inline is not None
            event.listen(inline.engine, "connect", register_wait)

    with TestClient(app) as client:
        yield client
    gate.released.set()
    app.state.tenancy.db.dispose()


def until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (not a timing assertion: a guard against hanging forever)."""
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.02)


@contextmanager
def slow_query_held(settings: Settings, gate: Gate) -> Iterator[Callable[[], int]]:
    """Hold the slow query's gate closed; yields how many requests are blocked in it."""
    if not is_postgres(settings):
        yield lambda: gate.inside
        gate.released.set()
        return
    owner = create_engine(settings.migration_database_url or settings.database_url)
    try:
        with owner.connect() as conn:
            conn.execute(select(func.pg_advisory_lock(LOCK_KEY)))
            conn.commit()

            def blocked() -> int:
                return int(
                    conn.execute(
                        text(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                            " AND objid = :key AND NOT granted"
                        ),
                        {"key": LOCK_KEY},
                    ).scalar_one()
                )

            yield blocked
            conn.execute(select(func.pg_advisory_unlock(LOCK_KEY)))
            conn.commit()
    finally:
        owner.dispose()


@pytest.mark.parametrize(
    "route",
    ["GET /api/slow", "GET /api/slow/async", "GET /api/slow/reads", "POST /api/slow/writes"],
)
def test_a_slow_query_holds_up_neither_another_tenant_nor_healthz(
    slow_client: TestClient, settings: Settings, gate: Gate, route: str
) -> None:
    alice = register(slow_client, "alice@example.com")
    bob = register(slow_client, "bob@example.com")
    method, path = route.split()
    with ThreadPoolExecutor(2) as pool, slow_query_held(settings, gate) as blocked:
        slow = pool.submit(slow_client.request, method, path, headers=alice.headers)
        until(lambda: blocked() == 1, "the slow query to start")
        assert slow_client.get("/healthz").status_code == 200
        assert slow_client.get("/api/notes", headers=bob.headers).status_code == 200
        assert slow_client.get("/api/anotes", headers=bob.headers).status_code == 200
        # Alice's own other requests are not stuck behind her slow one either.
        assert slow_client.get("/api/notes", headers=alice.headers).status_code == 200
        assert not slow.done()
    assert slow.result(timeout=30).status_code == 200


@only_sqlite
def test_a_flooding_tenant_is_capped_and_the_others_pass(
    slow_client: TestClient, settings: Settings, gate: Gate
) -> None:
    alice = register(slow_client, "alice@example.com")
    bob = register(slow_client, "bob@example.com")
    tenancy: Tenancy = slow_client.app.state.tenancy  # type: ignore[attr-defined]
    flood: list[Future[Any]] = []
    with ThreadPoolExecutor(6) as pool, slow_query_held(settings, gate) as blocked:
        flood += [
            pool.submit(slow_client.get, "/api/slow", headers=alice.headers) for _ in range(5)
        ]
        # They queue by her token from the first byte (tenantry.web.turns): two get in.
        token = alice.headers["Authorization"].removeprefix("Bearer ").encode()
        until(lambda: tenancy.credential_slots.busy(token) == 5, "alice's five to arrive")
        until(lambda: blocked() == 2, "two of them to reach the database")
        assert tenancy.slots.running(uuid.UUID(alice.tenant_id)) == 2
        # The two that run hold two of her slots as a person, the others wait before them.
        assert tenancy.user_slots.busy(alice.user_id) == 2
        # Alice is at her cap of 2: her three other requests wait; Bob goes straight through.
        assert slow_client.get("/api/notes", headers=bob.headers).status_code == 200
        assert blocked() == 2
        assert not any(f.done() for f in flood)
    assert [f.result(timeout=30).status_code for f in flood] == [200] * 5
    assert gate.most_inside == 2


def test_one_person_s_requests_across_their_tenants_hold_at_most_the_cap(
    slow_client: TestClient, settings: Settings, gate: Gate
) -> None:
    """Found by an outside tester: the tenant's cap left one person's requests uncapped
    across the tenants they own. Each of their 16 households ran its first request at
    once, held every pooled PostgreSQL connection, and another person's page waited 30 s."""
    alice = register(slow_client, "alice@example.com")
    bob = register(slow_client, "bob@example.com")
    households = [alice.headers]
    for name in ("Spare 1", "Spare 2"):
        made = slow_client.post("/api/tenants", json={"name": name}, headers=alice.headers)
        assert made.status_code == 201, made.text
        households.append({"Authorization": f"Bearer {made.json()['access_token']}"})
    tenancy: Tenancy = slow_client.app.state.tenancy  # type: ignore[attr-defined]
    with ThreadPoolExecutor(6) as pool, slow_query_held(settings, gate) as blocked:
        flood = [pool.submit(slow_client.get, "/api/slow", headers=h) for h in households * 2]
        until(lambda: tenancy.user_slots.busy(alice.user_id) == 6, "her six to arrive")
        until(lambda: blocked() == 2, "two of them to reach the database")
        assert tenancy.user_slots.running(alice.user_id) == 2  # her cap, whatever the tenant
        assert slow_client.get("/api/notes", headers=bob.headers).status_code == 200
        assert blocked() == 2
        assert not any(f.done() for f in flood)
    assert [f.result(timeout=30).status_code for f in flood] == [200] * 6
    assert tenancy.user_slots.busy(alice.user_id) == 0


# Routes whose own code hands the database work to a thread (``await in_thread(...)``).
OFFLOADING = {"import_document", "import_csv"}


def _uses_sync_session(dependant: Any) -> bool:
    from tenantry.web.deps import _session

    return any(d.call is _session for d in dependant.dependencies)


def test_no_async_route_queries_on_the_event_loop(settings: Settings) -> None:
    """An ``async def`` route with a sync ``DbSession`` runs its queries on the loop: every
    other request of the process waits on them. Every route of the server is walked (the
    suite's notes app keeps such routes on purpose: they must keep working)."""
    from tenantry.web.openapi import api_routes

    app = create_app(settings, default_plugins(), passwords=FAST_PASSWORDS)
    try:
        routes = api_routes(app)
        offenders = [
            f"{sorted(route.methods)} {route.path_format} ({route.endpoint.__name__})"
            for route in routes
            if inspect.iscoroutinefunction(route.endpoint)
            and _uses_sync_session(route.dependant)
            and route.endpoint.__name__ not in OFFLOADING
        ]
        assert len(routes) > 50
        assert offenders == []
    finally:
        app.state.tenancy.db.dispose()


def test_membership_checks_leave_the_loop_only_where_they_block_on_io(settings: Settings) -> None:
    """With in-process rate limits the check runs on the event loop: inline on an SQLite
    file (tenantry.db.InlineReads), awaited on PostgreSQL. A Redis count sends it to a
    thread (the limits library's Redis client blocks)."""

    def on_loop(**update: Any) -> bool:
        app = create_app(
            settings.model_copy(update=update), default_plugins(), passwords=FAST_PASSWORDS
        )
        tenancy: Tenancy = app.state.tenancy
        tenancy.db.dispose()
        inline, awaited = tenancy.inline_reads is not None, tenancy.async_checks is not None
        assert not (inline and is_postgres(settings)), "a PostgreSQL read is a round trip"
        assert not (awaited and not is_postgres(settings)), "aiosqlite would hop to a thread"
        return inline or awaited  # PostgreSQL's round trip is awaited (async driver)

    redis = "redis://127.0.0.1:9/0"  # never connected to: only its kind matters
    assert on_loop(request_budgets=True) is True
    assert on_loop(request_budgets=True, rate_limit_storage=redis) is False  # a Redis count
    # Budgets off: nothing is counted per request, so the storage does not matter.
    assert on_loop(request_budgets=False, rate_limit_storage=redis) is True


def test_route_reads_run_on_the_loop_without_blocking_it(
    slow_client: TestClient, settings: Settings
) -> None:
    """``Reads``: an SQLite page read runs on the loop (cut off if it runs long); on
    PostgreSQL it runs there too, its round trips awaited through the async driver.
    That neither blocks the loop is the slow-query test's ``/api/slow/reads``."""
    alice = register(slow_client, "alice@example.com")
    answer = slow_client.get("/api/slow/where", headers=alice.headers).json()
    assert answer == {"on_the_loop": True, "host_catalogue": True}
    tenancy: Tenancy = slow_client.app.state.tenancy  # type: ignore[attr-defined]
    assert (tenancy.async_reads is not None) is is_postgres(settings)


def _http_scope(client: TestClient, path: str, token: str) -> dict[str, Any]:
    """A request's ASGI scope as a server builds it, for a client the test drives itself."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": client.app_state.copy(),
    }


def test_a_request_whose_client_left_while_it_waited_for_its_tenant_never_runs(
    settings: Settings, gate: Gate
) -> None:
    """Two members of one household, one slot: the second member's request passes the
    turns (a credential of its own) and waits in the tenant's slots. Its client gives up
    there: it must leave the queue unanswered, not run later for no one."""
    with _slow_client(settings, gate, tenant_concurrency=1) as client:
        alice = register(client, "alice@example.com")
        bob = invite_and_join(client, alice, "bob@example.com")
        tenancy: Tenancy = client.app.state.tenancy  # type: ignore[attr-defined]
        tenant = uuid.UUID(alice.tenant_id)
        gone: anyio.Event = client.portal.call(anyio.Event)  # type: ignore[union-attr]
        answered: list[Message] = []
        asked = False

        async def receive() -> Message:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            answered.append(message)

        with ThreadPoolExecutor(1) as pool, slow_query_held(settings, gate) as blocked:
            slow = pool.submit(client.get, "/api/slow", headers=alice.headers)
            until(lambda: blocked() == 1, "alice's slow request to hold the slot")
            waiting = client.portal.start_task_soon(  # type: ignore[union-attr]
                client.app, _http_scope(client, "/api/slow/ran", bob.access), receive, send
            )
            until(lambda: tenancy.slots.busy(tenant) == 2, "bob's request to wait its turn")
            client.portal.call(gone.set)  # type: ignore[union-attr]
            until(waiting.done, "bob's request to give up")
            waiting.result()
            assert tenancy.slots.busy(tenant) == 1
            assert not slow.done()
        assert slow.result(timeout=30).status_code == 200
        assert answered == []
        assert client.app.state.ran == []  # type: ignore[attr-defined]
        # The route does run for a client that stays.
        assert client.get("/api/slow/ran", headers=bob.headers).status_code == 200
        assert client.app.state.ran == [bob.user_id]  # type: ignore[attr-defined]
