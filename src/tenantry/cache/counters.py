"""The disk cache's counters (tenant generations, tag versions) in a shared-memory file.

The tenant cache keys every entry by its tenant's generation and its tags' versions
(:mod:`tenantry.cache.tenant_cache`), so an invalidation is a counter bump. In diskcache's
SQLite file each bump was a write transaction: ~70 µs of a POST's CPU in a server whose
cache had grown, run on the event loop by the async driver's commit hooks, and waiting up
to diskcache's timeout while another process held its write lock. Here a counter is one
64-bit word of a file that every process of the machine maps: a bump is a store, a read a
load, and neither waits for anyone.

A bump writes a fresh random value instead of adding one. Two processes adding one at
once could both write the same next value, and an entry stored between the two (from rows
read before the second commit) would outlive the second bump; a random value is never
written twice (63 bits), so an entry keyed by a value no longer there stays unreachable.
A reader that catches a word mid-store sees some other value: a miss, nothing worse.

Keys share words by hash: a bump also makes the entries of another key of its word
stale, a miss and nothing worse. The file's epoch, drawn when the file is made, is part of
every version: a file made again (deleted, or found unreadable) never makes an entry keyed
under the old one current again.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import secrets
import zlib
from pathlib import Path

WORDS = 1 << 20  # counters a file holds (8 MiB, mapped; pages are touched as used)
_MAGIC = int.from_bytes(b"tenantry", "little")
_HEAD = 2  # magic, epoch
_SIZE = (_HEAD + WORDS) * 8


class SharedCounters:
    """Counters by key in the file at ``path``, shared by every process that maps it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # a wrong directory fails the start, not every request
            raise ValueError(f"cache counters {path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # one process sets a new file up
            size = os.fstat(fd).st_size
            if size < _SIZE:
                os.ftruncate(fd, _SIZE)  # grown, never shrunk: others may have it mapped
            mapped = mmap.mmap(fd, _SIZE)
            view = memoryview(mapped)
            words = view.cast("Q")
            if words[0] != _MAGIC or words[1] == 0:
                # Not ours: zeroed in place (no truncation under another's mapping). A new
                # file is all zeros already, and left sparse: pages are touched as used.
                if size:
                    words[_HEAD:] = memoryview(bytes(WORDS * 8)).cast("Q")
                words[1] = secrets.randbits(63) | 1  # a new epoch
                words[0] = _MAGIC
        finally:
            # The mapping keeps a duplicate of fd, and with it the lock: unlock by hand.
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._mapped, self._view, self._words = mapped, view, words
        self._epoch = f"{words[1]:x}"

    def read(self, keys: list[str]) -> list[bytes]:
        """The current version of each key."""
        words = self._words
        return [f"{self._epoch}-{words[_word(key)]:x}".encode() for key in keys]

    def bump(self, key: str) -> None:
        """Give ``key`` a version it never had."""
        self._words[_word(key)] = secrets.randbits(63) | 1

    def close(self) -> None:
        self._words.release()
        self._view.release()
        self._mapped.close()


def _word(key: str) -> int:
    return _HEAD + zlib.crc32(key.encode()) % WORDS
