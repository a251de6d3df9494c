"""PostgreSQL transaction-level advisory locks of tenantry, each in a key space of its own.

PostgreSQL keeps one-``bigint`` advisory locks apart from two-``integer`` ones. The
one-``bigint`` form is the move barrier's (:func:`tenantry.placement.router.barrier_key`,
one key per tenant, taken shared by every writer). Every other lock of tenantry takes the
two-``integer`` form: the first key names what the lock is for (:class:`LockSpace`), the
second is a 32-bit hash of what it locks, so two purposes never wait on each other and a
hash collision inside one purpose only makes two transactions take turns.
"""

from __future__ import annotations

import hashlib
from enum import IntEnum

from sqlalchemy import Connection, text

_XACT_LOCK = text("SELECT pg_advisory_xact_lock(:space, :key)")


class LockSpace(IntEnum):
    """What a lock is for: the first of its two keys (four ASCII letters, to read in pg_locks)."""

    JOB_ONCE = 0x6F6E6365  # "once": one run of a job's key at a time (tenantry.jobs.once)
    TENANT_WRITES = 0x77726974  # "writ": a dedicated tenant database's writers take turns


def lock_key(*parts: object) -> int:
    """The second key for ``parts``: a signed 32-bit hash of their text, joined by ``:``."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=4).digest()
    return int.from_bytes(digest, signed=True)


def xact_lock(conn: Connection, space: LockSpace, *parts: object) -> None:
    """Wait for, then hold until ``conn``'s transaction ends, the exclusive lock on
    ``parts`` in ``space``. Nothing is run outside PostgreSQL: there a writing transaction
    already holds the database's only write lock (SQLite's ``BEGIN IMMEDIATE``)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_XACT_LOCK, {"space": int(space), "key": lock_key(*parts)})
