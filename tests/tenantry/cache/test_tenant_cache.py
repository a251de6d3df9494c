"""The tenant cache: one key in two tenants never crosses, invalidation, outages."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from tenantry.cache import CacheBackend, MemoryBackend, TenantCache, backend_from_url
from tenantry.cache.disk_backend import DiskBackend
from tenantry.cache.redis_backend import RedisBackend
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.errors import NoTenantContext
from tenantry.ids import TenantId, UserId
from tenantry.models import Tenant
from tenantry.roles import Role
from tenantry_server.settings import Settings
from tests.notes_app import AppNote
from tests.support.ports import free_port
from tests.support.redis import RedisServer

A = TenantContext(TenantId(uuid.uuid4()), UserId(1), Role.OWNER)
B = TenantContext(TenantId(uuid.uuid4()), UserId(2), Role.OWNER)


@pytest.fixture(params=["memory", "disk", pytest.param("redis", marks=pytest.mark.redis)])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TenantCache]:
    backend: CacheBackend
    if request.param == "memory":
        backend = MemoryBackend()
    elif request.param == "disk":
        backend = DiskBackend(tmp_path / "cache")
    else:
        server: RedisServer = request.getfixturevalue("redis")
        backend = RedisBackend(server.url)
    yield TenantCache(backend)
    backend.close()


def test_same_key_in_two_tenants_never_crosses(cache: TenantCache) -> None:
    with tenant_scope(A):
        assert cache.get_or_set("k", lambda: "a-value") == "a-value"
    with tenant_scope(B):
        assert cache.get_or_set("k", lambda: "b-value") == "b-value"
    with tenant_scope(A):
        assert cache.get_or_set("k", lambda: "wrong") == "a-value"
    with tenant_scope(B):
        assert cache.get_or_set("k", lambda: "wrong") == "b-value"


def test_a_cleared_tenant_sees_none_of_its_old_entries_and_others_keep_theirs(
    cache: TenantCache,
) -> None:
    for ctx, value in ((A, "a"), (B, "b")):
        with tenant_scope(ctx):
            cache.get_or_set("k", lambda v=value: v)  # type: ignore[misc]
    cache.clear_tenant(A.tenant_id)
    with tenant_scope(A):
        assert cache.get_or_set("k", lambda: "fresh") == "fresh"
    with tenant_scope(B):
        assert cache.get_or_set("k", lambda: "wrong") == "b"


def test_no_tenant_context_is_an_error(cache: TenantCache) -> None:
    with pytest.raises(NoTenantContext):
        cache.get_or_set("k", lambda: 1)


def test_invalidating_a_tag_drops_only_that_tenants_tagged_entries(cache: TenantCache) -> None:
    with tenant_scope(A):
        cache.get_or_set("tagged", lambda: 1, tags=["readings"])
        cache.get_or_set("other", lambda: 1, tags=["vouchers"])
    with tenant_scope(B):
        cache.get_or_set("tagged", lambda: 1, tags=["readings"])
    with tenant_scope(A):
        cache.invalidate("readings")
        assert cache.get_or_set("tagged", lambda: 2, tags=["readings"]) == 2
        assert cache.get_or_set("other", lambda: 2, tags=["vouchers"]) == 1
    with tenant_scope(B):
        assert cache.get_or_set("tagged", lambda: 2, tags=["readings"]) == 1


def test_values_round_trip_as_json_or_bytes(cache: TenantCache) -> None:
    with tenant_scope(A):
        cache.get_or_set("d", lambda: {"amount": Decimal("1.50"), "n": [1, 2]})
        assert cache.get_or_set("d", lambda: {}) == {"amount": "1.50", "n": [1, 2]}
        cache.get_or_set("b", lambda: b"\x00raw")
        assert cache.get_or_set("b", lambda: b"") == b"\x00raw"


def test_the_decorator_keys_by_arguments_and_tenant(cache: TenantCache) -> None:
    calls: list[int] = []

    @cache.cached(ttl=60)
    def square(n: int) -> int:
        calls.append(n)
        return n * n

    with tenant_scope(A):
        assert (square(3), square(3), square(4)) == (9, 9, 16)
    with tenant_scope(B):
        assert square(3) == 9
    assert calls == [3, 4, 3]


@pytest.mark.redis
def test_a_redis_outage_degrades_to_misses(redis: RedisServer) -> None:
    cache = TenantCache(RedisBackend(redis.url))
    with tenant_scope(A):
        cache.get_or_set("k", lambda: "before")
        redis.stop()
        assert cache.get_or_set("k", lambda: "computed") == "computed"
        cache.invalidate("readings")  # logged, not raised
        redis.start()
        cache.backend._down_until = 0.0  # type: ignore[attr-defined]  # skip the back-off
        assert cache.get_or_set("k", lambda: "after") == "after"
        assert cache.get_or_set("k", lambda: "wrong") == "after"


@pytest.mark.redis
def test_an_invalidation_redis_missed_is_sent_once_it_answers(redis: RedisServer) -> None:
    # The way to Redis fails (a partition: Redis keeps its data) while a write invalidates.
    backend = RedisBackend(redis.url)
    writer = TenantCache(backend)
    other = TenantCache(RedisBackend(redis.url))  # another process of the deployment
    with tenant_scope(A):
        assert writer.get_or_set("k", lambda: "old", tags=["readings"]) == "old"
        reachable, backend.client = (
            backend.client,
            RedisBackend(f"redis://127.0.0.1:{free_port()}").client,
        )
        writer.invalidate("readings")  # refused: kept, not dropped
        backend.client, backend._down_until = reachable, 0.0  # back, the back-off skipped
        assert writer.get_or_set("k", lambda: "new", tags=["readings"]) == "new"
        assert other.get_or_set("k", lambda: "wrong", tags=["readings"]) == "new"


def test_an_invalidation_on_disk_reaches_every_process_of_the_machine(tmp_path: Path) -> None:
    # Two backends on one directory are two server processes: each has its own connection.
    here = TenantCache(backend_from_url(f"file://{tmp_path}/cache"))
    there = TenantCache(backend_from_url(f"file://{tmp_path}/cache"))
    with tenant_scope(A):
        assert here.get_or_set("k", lambda: "old", tags=["readings"]) == "old"
        assert there.get_or_set("k", lambda: "wrong", tags=["readings"]) == "old"
        there.invalidate("readings")
        assert here.get_or_set("k", lambda: "new", tags=["readings"]) == "new"
    there.clear_tenant(A.tenant_id)
    with tenant_scope(A):
        assert here.get_or_set("k", lambda: "newer", tags=["readings"]) == "newer"


def test_an_unknown_cache_url_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"memory://, file://<directory> or redis://"):
        backend_from_url("memcached://localhost")


def test_the_disk_cache_drops_expired_entries_as_it_writes_and_keeps_counters(
    tmp_path: Path,
) -> None:
    # Nothing is evicted for size, so expired entries must go on their own, or the
    # directory would only grow; the counters are not entries and stay.
    backend = DiskBackend(tmp_path / "cache")
    for i in range(100):
        backend.set(f"old{i}", b"x" * 100, 1)
    backend.incr("tenant:tag:readings")
    (bumped,) = backend.counters(["tenant:tag:readings"])
    time.sleep(1.2)
    for i in range(20):
        backend.set(f"new{i}", b"y", 60)
    assert len(backend.store) == 20
    assert backend.get_many(["old0"]) == [None]
    assert backend.counters(["tenant:tag:readings"]) == [bumped]
    backend.close()


# The same tenants, for database work: no user row stands behind them.
DB_A = TenantContext(A.tenant_id, None, Role.OWNER)
DB_B = TenantContext(B.tenant_id, None, Role.OWNER)


@pytest.fixture
def watched(settings: Settings) -> Iterator[tuple[Database, TenantCache]]:
    """Notes of tenants A and B, in a database whose writes to notes invalidate "notes"."""
    db = Database(settings.database_url)
    cache = TenantCache()
    cache.invalidate_on(AppNote, "notes")
    db.setup_sessions(lambda factory, writes: cache.install(factory) if writes else None)
    with db.session() as session:
        for n, ctx in enumerate((DB_A, DB_B)):
            session.merge(Tenant(id=ctx.tenant_id, slug=f"cache-{n}", name="T"))
    for ctx in (DB_A, DB_B):
        with tenant_scope(ctx), db.session() as session:
            session.execute(delete(AppNote))
            session.add(AppNote(body="before"))
    yield db, cache
    db.dispose()


def _bodies(db: Database, cache: TenantCache) -> list[str]:
    def read() -> list[str]:
        with db.session() as session:
            return list(session.scalars(select(AppNote.body)))

    return cache.get_or_set("bodies", read, tags=["notes"])


@pytest.mark.parametrize(
    ("write", "after"),
    [
        (update(AppNote).values(body="after"), ["after"]),
        (delete(AppNote), []),
        (insert(AppNote).values(body="added", tenant_id=A.tenant_id), ["added", "before"]),
    ],
    ids=["update", "delete", "insert"],
)
def test_a_bulk_write_to_a_watched_model_invalidates_its_tags(
    watched: tuple[Database, TenantCache], write: Any, after: list[str]
) -> None:
    db, cache = watched
    with tenant_scope(DB_A):
        assert _bodies(db, cache) == ["before"]
        with db.session() as session:
            session.execute(write)  # a statement: no object of the session changed
        assert sorted(_bodies(db, cache)) == after  # was: the cached ["before"]
    with tenant_scope(DB_B):
        assert _bodies(db, cache) == ["before"]
