"""Where session hooks attach, for every kind of session factory tenantry makes.

A hook (scoping, quotas, metering, mail, audit) must hold for every session of a
database: the sync factories, and the ``AsyncSession`` factories of async apps.
SQLAlchemy takes session events on a ``sessionmaker`` or a ``Session`` class, not
on an ``async_sessionmaker``: an async session's events are those of the sync
``Session`` class it wraps. These helpers hide that difference from the installers.
"""

from __future__ import annotations

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


def listen(factory: SessionFactory, identifier: str, fn: Callable[..., Any]) -> None:
    """``event.listen`` on ``factory``'s sessions, whatever kind of factory it is."""
    event.listen(events_of(factory), identifier, fn)


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
