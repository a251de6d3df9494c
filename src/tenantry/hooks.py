"""Where session hooks attach, for every kind of session factory tenantry makes.

A hook (scoping, quotas, metering, mail, audit) must hold for every session of a
database: the sync factories, and the ``AsyncSession`` factories of async apps.
SQLAlchemy takes session events on a ``sessionmaker`` or a ``Session`` class, not
on an ``async_sessionmaker``: an async session's events are those of the sync
``Session`` class it wraps. These helpers hide that difference from the installers.

SQLAlchemy keeps a class's session listeners in one process-wide
``WeakKeyDictionary`` keyed by the class. A listener that reaches its class (a
hook's object holds the Database, which holds its session factories) keeps its
own key alive, and with it every app a process ever made: ~0.9 MB an app, a
host's test suite growing by that much a test. So :func:`listen` leaves SQLAlchemy
a weak reference only, and the session class holds the hook: it lives exactly as
long as the sessions it watches.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker

# A factory whose sessions hooks watch; a bare class for hooks that keep no settings.
SessionFactory: TypeAlias = "sessionmaker[Session] | async_sessionmaker[Any] | type[Session]"


def events_of(factory: SessionFactory) -> sessionmaker[Session] | type[Session]:
    """The target of ``factory``'s session events (an async factory's sync class)."""
    if isinstance(factory, (sessionmaker, type)):
        return factory
    cls = factory.kw.get("sync_session_class")
    if cls is None:  # the default is Session itself: hooks would reach every session
        raise ValueError("give the async_sessionmaker a sync_session_class of its own")
    return cls  # type: ignore[no-any-return]


# The attribute of a session class holding its hooks (see the module's docstring).
_HOOKS = "_tenantry_hooks"


class _Held:
    """What SQLAlchemy's registry keeps of a hook: a weak reference to it."""

    __slots__ = ("__weakref__", "_fn")

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = weakref.ref(fn)

    @property
    def hook(self) -> Callable[..., Any] | None:
        """The hook itself (``None`` once its class is gone)."""
        return self._fn()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        fn = self._fn()  # alive while its class is, and SQLAlchemy drops us with the class
        return None if fn is None else fn(*args, **kwargs)


def listen(factory: SessionFactory, identifier: str, fn: Callable[..., Any]) -> None:
    """``event.listen`` on ``factory``'s sessions, whatever kind of factory it is; the
    hook lives as long as their class (a factory's class, or the class given)."""
    target = events_of(factory)
    cls = target if isinstance(target, type) else target.class_
    held = cls.__dict__.get(_HOOKS)
    if held is None:
        held = []
        setattr(cls, _HOOKS, held)
    held.append(fn)
    event.listen(target, identifier, _Held(fn))


def set_info(factory: SessionFactory, key: str, value: Any) -> bool:
    """Put ``key`` in the ``info`` of ``factory``'s sessions; ``True`` the first time
    (the caller installs its hooks then, so they run once)."""
    if isinstance(factory, type):
        raise TypeError("a setting needs a session factory, not a Session class")
    info = dict(factory.kw.get("info") or {})
    first = key not in info
    info[key] = value
    factory.configure(info=info)
    return first
