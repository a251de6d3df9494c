"""Whether a database error is an outage (no connection) rather than a fault of ours."""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import OperationalError

# SQLSTATEs of a server that cannot take the connection: class 08 (connection exception),
# 53300 (too many connections: the server's or the role's limit), and 57P01-57P03 (shut
# down by an administrator, crash shutdown, cannot connect now).
_UNAVAILABLE_STATES = ("08", "53300", "57P01", "57P02", "57P03")


def is_connection_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached, not that a statement failed.

    Args:
        exc: any exception; only SQLAlchemy's ``OperationalError`` can be an outage.

    Returns:
        ``True`` for a connection lost or refused (psycopg's or asyncpg's, the latter as
        ``tenantry.async_db`` wraps it), a server out of connections or shutting down,
        or a SQLite file that cannot be opened; ``False`` for a lock timeout, a
        serialization failure or a missing table, which an ``OperationalError`` can also be.
    """
    if not isinstance(exc, OperationalError):
        return False
    if exc.connection_invalidated:  # the dialect recognised a lost connection
        return True
    orig = exc.orig
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(orig, sqlite3.Error):
        return sqlite_code == sqlite3.SQLITE_CANTOPEN
    state = getattr(orig, "sqlstate", None)
    if state is None:  # no server answered: refused, unreachable, closed mid-statement
        return True
    return str(state).startswith(_UNAVAILABLE_STATES)
