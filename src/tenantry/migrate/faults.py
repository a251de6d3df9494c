"""A test hook: die with SIGKILL at the N-th checkpoint, to prove a killed run can resume.

Set ``TENANTRY_TENANTIZE_KILL_AT=N``; production runs never set it.
"""

from __future__ import annotations

import os
import signal

_ENV = "TENANTRY_TENANTIZE_KILL_AT"
_count = 0


def checkpoint(label: str) -> None:
    """Count a point where a crash is possible; at the configured one, SIGKILL ourselves."""
    global _count
    _count += 1
    target = os.environ.get(_ENV)
    if target and int(target) == _count:
        os.write(2, f"tenantize: killed at checkpoint {_count} ({label})\n".encode())
        os.kill(os.getpid(), signal.SIGKILL)


def count() -> int:
    return _count
