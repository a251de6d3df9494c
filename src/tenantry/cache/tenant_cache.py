"""A cache whose keys always carry the tenant, so no caller can forget it.

Layout (``prefix`` defaults to ``tenantry:cache``)::

    {prefix}:{tenant}:gen            generation; bumped when the tenant is cleared or deleted
    {prefix}:{tenant}:tag:{tag}      version of one tag; bumped by invalidate(tag)
    {prefix}:{tenant}:{gen}:{versions}:{key}   the entry, with its TTL

An entry's key embeds the generation and the versions of its tags, so bumping
either makes old entries unreachable at once (they expire on their own). A read
is two round trips to Redis, the counters then the entry; on disk the counters are
read from shared memory (:mod:`tenantry.cache.counters`).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

import orjson
from sqlalchemy.orm import ORMExecuteState, Session

from tenantry.cache.backends import CacheBackend, MemoryBackend
from tenantry.context import current_tenant
from tenantry.hooks import SessionFactory, listen
from tenantry.scoping import session_tenant

T = TypeVar("T")
P = ParamSpec("P")

_PENDING = "tenantry.cache_invalidations"
_RAW = b"b"
_JSON = b"j"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def _encode(value: Any) -> bytes:
    if isinstance(value, bytes):
        return _RAW + value
    return _JSON + orjson.dumps(value, default=_json_default)


def _decode(stored: bytes) -> Any:
    kind, body = stored[:1], stored[1:]
    return body if kind == _RAW else orjson.loads(body)


class TenantCache:
    """Get-or-set by key inside the current tenant; invalidation by tag.

    Args:
        backend: where entries live (:class:`MemoryBackend` by default).
        prefix: namespace of every key in the backend.
        default_ttl: seconds an entry lives when the caller names none.

    Values are ``bytes`` (stored as they are) or anything ``orjson`` writes;
    ``Decimal`` comes back as a string.
    """

    def __init__(
        self,
        backend: CacheBackend | None = None,
        *,
        prefix: str = "tenantry:cache",
        default_ttl: int = 300,
    ) -> None:
        self.backend = backend or MemoryBackend()
        self.prefix = prefix
        self.default_ttl = default_ttl
        self._model_tags: dict[type, tuple[str, ...]] = {}

    def _base(self, tenant_id: uuid.UUID) -> str:
        return f"{self.prefix}:{tenant_id}"

    def _entry_key(self, tenant_id: uuid.UUID, key: str, tags: tuple[str, ...]) -> str:
        base = self._base(tenant_id)
        counters = self.backend.counters([f"{base}:gen", *(f"{base}:tag:{t}" for t in tags)])
        versions = ".".join((c or b"0").decode() for c in counters)
        return f"{base}:{versions}:{key}"

    def get_or_set(
        self,
        key: str,
        produce: Callable[[], T],
        ttl: int | None = None,
        *,
        tags: Iterable[str] = (),
    ) -> T:
        """The cached value of ``key`` in the current tenant, or ``produce()`` stored.

        Raises:
            NoTenantContext: outside a tenant scope (fail closed, like queries).
        """
        full = self._entry_key(current_tenant().tenant_id, key, tuple(tags))
        (stored,) = self.backend.get_many([full])
        if stored is not None:
            return _decode(stored)  # type: ignore[no-any-return]
        value = produce()
        self.backend.set(full, _encode(value), ttl or self.default_ttl)
        return value

    def put(self, key: str, value: Any, ttl: int | None = None) -> None:
        """Store ``value`` under ``key`` in the current tenant (no tags)."""
        full = self._entry_key(current_tenant().tenant_id, key, ())
        self.backend.set(full, _encode(value), ttl or self.default_ttl)

    @property
    def reachable(self) -> bool:
        """Whether the backend answered its last call: while it is down every read is a
        miss, so "not there" cannot be told from "cannot be read" (memory and disk always)."""
        return bool(getattr(self.backend, "reachable", True))

    def peek(self, key: str) -> Any | None:
        """The value stored under ``key`` in the current tenant, or ``None``."""
        full = self._entry_key(current_tenant().tenant_id, key, ())
        (stored,) = self.backend.get_many([full])
        return None if stored is None else _decode(stored)

    def cached(
        self, ttl: int | None = None, *, tags: Iterable[str] = ()
    ) -> Callable[[Callable[P, T]], Callable[P, T]]:
        """Decorate a function so its result is cached per tenant and per arguments."""
        tag_tuple = tuple(tags)

        def decorate(fn: Callable[P, T]) -> Callable[P, T]:
            name = f"{fn.__module__}.{fn.__qualname__}"

            @functools.wraps(fn)
            def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
                key = f"{name}:{orjson.dumps([args, kwargs], default=str).decode()}"
                return self.get_or_set(key, lambda: fn(*args, **kwargs), ttl, tags=tag_tuple)

            return wrapper

        return decorate

    def invalidate(self, *tags: str, tenant_id: uuid.UUID | None = None) -> None:
        """Make every entry of ``tags`` in the tenant (the current one by default) stale."""
        tenant = tenant_id or current_tenant().tenant_id
        for tag in tags:
            self.backend.incr(f"{self._base(tenant)}:tag:{tag}")

    def clear_tenant(self, tenant_id: uuid.UUID) -> None:
        """Make every entry of one tenant stale (on deletion, suspension, restore)."""
        self.backend.incr(f"{self._base(tenant_id)}:gen")

    def invalidate_on(self, model: type, *tags: str) -> None:
        """Invalidate ``tags`` in a row's tenant whenever a ``model`` row is written."""
        self._model_tags[model] = (*self._model_tags.get(model, ()), *tags)

    def install(self, factory: SessionFactory) -> None:
        """Watch ``factory``'s sessions: writes to watched models invalidate after commit."""
        listen(factory, "after_flush", self._collect)
        listen(factory, "do_orm_execute", self._collect_statement)
        # A rollback keeps what was collected: an extra invalidation is harmless.
        listen(factory, "after_commit", self._apply)

    def _collect(self, session: Session, _flush: Any) -> None:
        if not self._model_tags:
            return
        for obj in (*session.new, *session.dirty, *session.deleted):
            tags = self._model_tags.get(type(obj))
            tenant_id = getattr(obj, "tenant_id", None)
            if tags and tenant_id is not None:
                session.info.setdefault(_PENDING, set()).update((tenant_id, t) for t in tags)

    def _collect_statement(self, state: ORMExecuteState) -> None:
        """A bulk ``insert``/``update``/``delete`` of a watched model changes rows no object
        of the session stands for (``_collect`` sees none): its tags go stale all the same,
        in the session's tenant."""
        if not self._model_tags or not (state.is_insert or state.is_update or state.is_delete):
            return
        mapper = state.bind_mapper
        tags = self._model_tags.get(mapper.class_) if mapper is not None else None
        tenant_id = session_tenant(state.session) if tags else None
        if tags and tenant_id is not None:
            pending = state.session.info.setdefault(_PENDING, set())
            pending.update((tenant_id, t) for t in tags)

    def _apply(self, session: Session) -> None:
        for tenant_id, tag in session.info.pop(_PENDING, ()):
            self.invalidate(tag, tenant_id=tenant_id)
