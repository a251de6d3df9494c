"""Jobs that could not reach the queue wait here, on local disk, until it is back.

One JSON file per job, written atomically (temp file + rename). The server drains
the spool into the queue once Redis answers again, so an outage delays jobs but
loses none.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import orjson


class Spool:
    """A directory of pending job payloads, oldest first."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, payload: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex}"
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(orjson.dumps(payload))
        tmp.replace(self.directory / f"{name}.json")

    def pending(self) -> list[Path]:
        if not self.directory.exists():
            return []
        return sorted(self.directory.glob("*.json"))

    @staticmethod
    def read(path: Path) -> dict[str, Any]:
        payload: dict[str, Any] = orjson.loads(path.read_bytes())
        return payload
