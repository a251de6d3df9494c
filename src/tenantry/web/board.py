"""What the other worker processes of a server run: a shared board, so that a tenant's
fair share (``tenantry.web.slots``) holds across a machine's workers, not within each.

Each worker of ``tenantry serve --workers N`` saw only its own requests. A tenant
flooding two workers ran a dashboard in each, took both cores, and another tenant's page
waited 2.5-4.6x its idle p99. With the board, a worker sees that tenant running in
another worker (its request here is not its first) and whether any other tenant is
active on the machine.

The board is a small shared-memory file, one row per process. A process writes only its
own row and never waits for another: the row's sequence number is odd while the row is
being changed, and a reader that sees it odd or moved reads the row again, or skips it.
The board steers a scheduler and guards no data: a row read a moment late only starts a
request a moment early or late. A row whose process is gone counts for nothing, and the
next process that starts takes it over (a reused process id keeps a dead row's entries
until then).
"""

from __future__ import annotations

import fcntl
import math
import mmap
import os
import tempfile
import time
import uuid
from collections.abc import Hashable
from dataclasses import dataclass
from hashlib import blake2b
from pathlib import Path
from typing import TypeVar

ROWS = 64  # worker processes on one board at most; beyond, a process publishes nothing
_ROW = 512  # int64 words a row: 4 KiB
# The file's first row is a header: how many times a row was taken (readers look again).
_TAKEN = 0
# A row: sequence, pid, requests running, entries in use (high-water mark), the two
# latest keys to end a request with the time each did (the second a key other than the
# first), then entries (key, requests running, last start) of the keys running.
_SEQ, _PID, _TOTAL, _USED, _END1, _AT1, _END2, _AT2 = range(8)
_HEAD = 8
_ENTRY = 3
_ENTRIES = (_ROW - _HEAD) // _ENTRY
_SIZE = (1 + ROWS) * _ROW * 8
_RETRIES = 4
_LIVENESS_S = 1.0  # how long a row's process is taken to be alive (or dead) once checked


def board_key(key: Hashable) -> int:
    """A key that means the same in every process (``hash`` of a str does not), never 0."""
    if isinstance(key, uuid.UUID):
        return key.int & 0x7FFF_FFFF_FFFF_FFFF or 1
    digest = blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF or 1


# The two latest keys to end a request, most recent first, each with when:
# (key, at, other key, at). The process's slots keep one, each board row another.
K = TypeVar("K", bound=Hashable)
T = TypeVar("T", int, float)
NO_ENDS: tuple[Hashable, float, Hashable, float] = (None, -math.inf, None, -math.inf)


def with_end(ends: tuple[K, T, K, T], key: K, at: T) -> tuple[K, T, K, T]:
    """``ends`` after ``key`` ended a request at ``at``."""
    first, first_at, second, second_at = ends
    if first != key:
        second, second_at = first, first_at
    return key, at, second, second_at


def other_ended(ends: tuple[K, T, K, T], key: K, since: T) -> bool:
    """Whether a key other than ``key`` ended a request after ``since``."""
    first, first_at, _, second_at = ends
    return (first_at if first != key else second_at) > since


_NEVER = -(1 << 62)  # a time before any other, in µs


def _micros(t: float) -> int:
    return int(t * 1_000_000) if t > -1e12 else _NEVER  # a quiet time of inf: -inf


@dataclass(frozen=True, slots=True)
class Elsewhere:
    """What the other processes run, as seen from one key."""

    running: int = 0  # the key's requests running in other processes
    total: int = 0  # every request running in other processes
    last_start: float = -1.0  # the key's latest start in another process (monotonic s)
    others_active: bool = False  # another key runs, or ended a request lately, anywhere


NOTHING = Elsewhere()


class Board:
    """One process's row on a board file shared by a server's workers.

    The file is mapped on first use in each process (a worker forked or spawned after the
    board was made takes a row of its own).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:  # a wrong path fails the start, not every request
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise ValueError(f"worker board {self.path}: {exc.strerror}") from exc
        self._pid = 0
        self._words: memoryview | None = None
        self._base = -1  # this process's row (its first word), -1 when it has none
        self._slot_of: dict[int, int] = {}  # key -> entry index in this row
        self._free: list[int] = []
        self._rows: list[int] = []  # the other live rows' first words
        self._rows_checked = -_LIVENESS_S
        self._rows_taken = -1

    def started(self, key: int, running: int, total: int, at: float) -> None:
        """One of ``key``'s requests started at ``at``: this process now runs ``running``
        of its requests and ``total`` in all."""
        words = self._attach()
        base = self._base
        if base < 0:
            return
        slot = self._slot_of.get(key)
        if slot is None:
            if self._free:
                slot = self._free.pop()
            elif words[base + _USED] < _ENTRIES:
                slot = words[base + _USED]
            else:
                slot = -1  # a full row: the key goes unseen by the others
        words[base + _SEQ] += 1  # odd: being changed
        if slot >= 0:
            self._slot_of[key] = slot
            entry = base + _HEAD + slot * _ENTRY
            words[entry] = key
            words[entry + 1] = running
            words[entry + 2] = _micros(at)
            if slot >= words[base + _USED]:
                words[base + _USED] = slot + 1
        words[base + _TOTAL] = total
        words[base + _SEQ] += 1

    def ended(self, key: int, running: int, total: int, at: float) -> None:
        """One of ``key``'s requests ended at ``at``, leaving ``running`` of them and
        ``total`` in all: the key stays "active lately" for a while."""
        words = self._attach()
        base = self._base
        if base < 0:
            return
        slot = self._slot_of.get(key)
        words[base + _SEQ] += 1
        if slot is not None:
            entry = base + _HEAD + slot * _ENTRY
            if running:
                words[entry + 1] = running
            else:
                words[entry] = 0
                del self._slot_of[key]
                self._free.append(slot)
        words[base + _TOTAL] = total
        ends = with_end(_ends(words, base), key, _micros(at))
        words[base + _END1], words[base + _AT1], words[base + _END2], words[base + _AT2] = ends
        words[base + _SEQ] += 1

    def look(self, key: int, since: float) -> Elsewhere:
        """``key`` in the other processes' rows; "active lately" is ending after ``since``."""
        words = self._attach()
        since_us = _micros(since)
        others_active = False
        running = total = 0
        last_start = -1
        for base in self._live_rows(words):
            for _ in range(_RETRIES):
                seq = words[base + _SEQ]
                if seq & 1:
                    continue
                row_running = row_start = 0
                row_others = other_ended(_ends(words, base), key, since_us)
                row_total = words[base + _TOTAL]
                first = base + _HEAD
                for at in range(first, first + words[base + _USED] * _ENTRY, _ENTRY):
                    entry = words[at]
                    if entry == key:
                        row_running = words[at + 1]
                        row_start = words[at + 2]
                    elif entry:
                        row_others = True
                if words[base + _SEQ] == seq:
                    running += row_running
                    total += row_total
                    last_start = max(last_start, row_start if row_running else -1)
                    others_active = others_active or row_others
                    break
        if not (running or total or others_active):
            return NOTHING
        return Elsewhere(running, total, last_start / 1_000_000, others_active)

    def _attach(self) -> memoryview:
        """The mapped board, with a row of this process's own (taken on first use)."""
        if self._words is not None and self._pid == _pid:
            return self._words
        pid = _pid
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # taking a row: one process at a time
            if os.fstat(fd).st_size < _SIZE:
                os.ftruncate(fd, _SIZE)
            words = memoryview(mmap.mmap(fd, _SIZE)).cast("q")
            self._base = -1
            for row in range(1, 1 + ROWS):
                base = row * _ROW
                owner = words[base + _PID]
                if owner == pid or not _alive(owner):
                    words[base : base + _ROW] = memoryview(bytes(_ROW * 8)).cast("q")
                    words[base + _PID] = pid
                    words[base + _AT1] = words[base + _AT2] = _NEVER
                    words[_TAKEN] += 1
                    self._base = base
                    break
        finally:
            # The mapping keeps a duplicate of fd, and with it the lock: unlock by hand.
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._words, self._pid = words, pid
        self._slot_of.clear()
        self._free.clear()
        self._rows_taken = -1
        return words

    def _live_rows(self, words: memoryview) -> list[int]:
        """The other processes' rows: looked up again when a process took a row, and each
        second (a process that died counts for nothing after that)."""
        now = time.monotonic()
        taken = words[_TAKEN]
        if taken != self._rows_taken or now - self._rows_checked >= _LIVENESS_S:
            self._rows = [
                base
                for base in range(_ROW, _SIZE // 8, _ROW)
                if base != self._base and _alive(words[base + _PID])
            ]
            self._rows_checked, self._rows_taken = now, taken
        return self._rows


def new_board_file(directory: Path) -> Path:
    """A fresh, private board file in ``directory`` for this server process.

    Its name holds this process's id, so the boards of servers that died without removing
    theirs (SIGKILL, a crash: 260 KiB of shared memory each) are found by their dead pid
    and removed here first. A reused pid keeps a dead server's board until it is free.
    """
    for stale in directory.glob("tenantry-*-*.board"):
        pid = stale.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)
    fd, name = tempfile.mkstemp(prefix=f"tenantry-{os.getpid()}-", suffix=".board", dir=directory)
    os.close(fd)
    return Path(name)


def _ends(words: memoryview, base: int) -> tuple[int, int, int, int]:
    return words[base + _END1], words[base + _AT1], words[base + _END2], words[base + _AT2]


# This process's id, kept current in a forked child: no system call per request.
_pid = os.getpid()


def _after_fork() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_after_fork)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
