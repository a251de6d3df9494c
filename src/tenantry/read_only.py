"""Read-only sessions: safe requests and streams never take SQLite's write lock, so never write.

On SQLite (WAL) a read transaction that later writes cannot wait for the write
lock: it fails at once with "database is locked" when another writer is active
or has committed since it began. So a session is read-only or a writer from its
first statement: reads begin deferred (``BEGIN`` plus ``PRAGMA query_only``),
writes begin with ``BEGIN IMMEDIATE`` and wait their turn. The ORM guard below
makes a write attempted in a read-only session fail the same clear way on every
database, at development time rather than under load.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from tenantry.errors import TenantryError
from tenantry.hooks import SessionFactory, listen

READ_ONLY = "tenantry_read_only"
_DEFERRED = "tenantry.deferred_writes"


def read_only_options(dialect: str) -> dict[str, Any]:
    """Execution options of an engine for read-only sessions (``engine.dialect.name``).

    The ORM guard below sees ORM writes only; the database refuses the rest (raw SQL in
    ``text()``): SQLite's ``PRAGMA query_only`` (:mod:`tenantry.sqlite`), PostgreSQL's
    ``BEGIN READ ONLY`` (SQLAlchemy's ``postgresql_readonly``, no extra round trip).
    """
    options: dict[str, Any] = {READ_ONLY: True}
    if dialect == "postgresql":
        options["postgresql_readonly"] = True
    return options


def is_read_only_refusal(exc: BaseException) -> bool:
    """Whether the database refused a write because the transaction is read-only."""
    orig = getattr(exc, "orig", exc)
    if str(getattr(orig, "sqlstate", "") or "") == "25006":  # read_only_sql_transaction
        return True
    return "attempt to write a readonly database" in str(orig)


class ReadOnlySession(TenantryError):
    """A write was attempted in a read-only session (a GET/HEAD/OPTIONS request, a stream)."""

    code = "read_only_session"
    status = 500


READ_ONLY_MESSAGE = (
    "this session is read-only (GET, HEAD and OPTIONS requests and streams read only); "
    "write in a POST, PUT, PATCH or DELETE route, or open Database.session() for the write"
)


def install_read_only(factory: SessionFactory) -> None:
    """Refuse every ORM write (flush, bulk insert/update/delete) in ``factory``'s sessions."""
    listen(factory, "before_flush", _refuse_flush)
    listen(factory, "do_orm_execute", _refuse_statement)


def _refuse_flush(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlySession(READ_ONLY_MESSAGE)


def _refuse_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlySession(READ_ONLY_MESSAGE)


def defer_write(session: Session, obj: object) -> bool:
    """Hold ``obj`` (an audit event of a read) for a write after a read-only session commits.

    Returns ``False`` for a writable session: the caller adds ``obj`` to it as usual.
    Reads are audited too (downloads, platform-admin views); their events are
    written in a short transaction of their own once the read has succeeded.
    """
    if not session.info.get(READ_ONLY):
        return False
    if not session.in_transaction():
        # The route's reads may be over (the membership check ends its own transaction):
        # begin one, so the request's commit or rollback still decides about the event.
        session.connection()
    session.info.setdefault(_DEFERRED, []).append(obj)
    return True


def has_deferred_writes(session: Session) -> bool:
    """Whether ``session``'s commit will write what :func:`defer_write` held."""
    return bool(session.info.get(_DEFERRED))


def install_deferred_writes(read_factory: SessionFactory, writer: Callable[[], Session]) -> None:
    """Write what :func:`defer_write` held when a read-only session of ``read_factory``
    commits, in a session of ``writer``."""

    def _write(session: Session) -> None:
        pending = session.info.pop(_DEFERRED, None)
        if pending:
            with writer() as write, write.begin():
                write.add_all(pending)

    def _drop(session: Session, _previous: Any) -> None:
        session.info.pop(_DEFERRED, None)  # the read failed: there is nothing to record

    listen(read_factory, "after_commit", _write)
    listen(read_factory, "after_soft_rollback", _drop)
