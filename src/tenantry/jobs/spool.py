"""Jobs waiting on local disk: for Redis to come back, for their time, or (without Redis) to run.

One JSON file per job, written atomically (temp file + rename), named after the
time it is due, so the directory lists in the order jobs fall due. Whoever takes
an entry holds a lock on it (``flock``) until it is queued or has run: two
processes sharing the directory never take the same entry, and a process that
dies lets go of its entries, which the next look takes again (jobs run at least
once). Jobs that will not be tried again are kept in ``failed/``; move one back
to try it again.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson


@dataclass
class Taken:
    """A spooled job this process holds: the payload, and the lock on its file."""

    path: Path
    payload: dict[str, Any]
    fd: int

    def done(self) -> None:
        """The job is queued or has run: remove its file and let go of the lock."""
        self.path.unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        """Let go without removing it: the next look takes it again."""
        os.close(self.fd)


class Spool:
    """A directory of pending job payloads, in the order they fall due."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, payload: dict[str, Any], *, at: float | None = None) -> Path:
        """Keep ``payload`` until ``at`` (a ``time.time()``; default: due now)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        due = int((time.time() if at is None else at) * 1e9)
        name = f"{due:020d}-{uuid.uuid4().hex}"
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(orjson.dumps(payload))
        return tmp.replace(self.directory / f"{name}.json")

    def pending(self) -> list[Path]:
        """Every entry, the soonest due first."""
        if not self.directory.exists():
            return []
        return sorted(self.directory.glob("*.json"))

    def due(self, now: float | None = None) -> list[Path]:
        """The entries due by ``now``, oldest first (the file names say when)."""
        limit = f"{int((time.time() if now is None else now) * 1e9):020d}"
        return [path for path in self.pending() if path.name[:20] <= limit]

    def take(self, path: Path) -> Taken | None:
        """Lock the entry at ``path``; ``None`` if another holder has it or it is gone."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_nlink == 0:  # done by its holder while we opened it
                raise BlockingIOError
            payload: dict[str, Any] = orjson.loads(os.read(fd, os.fstat(fd).st_size))
        except (BlockingIOError, orjson.JSONDecodeError):
            os.close(fd)
            return None
        return Taken(path, payload, fd)

    def set_aside(self, payload: dict[str, Any]) -> Path:
        """Keep a job that will not be tried again in ``failed/``."""
        return Spool(self.directory / "failed").put(payload)

    @staticmethod
    def read(path: Path) -> dict[str, Any]:
        payload: dict[str, Any] = orjson.loads(path.read_bytes())
        return payload
