"""A test hook: die with SIGKILL at the N-th checkpoint, to prove a killed run can resume.

Set ``TENANTRY_TENANTIZE_KILL_AT=N`` (and ``TENANTRY_TENANTIZE_SIGNAL=INT`` for a Ctrl-C
instead); production runs never set them.
"""

from __future__ import annotations

import os
import signal

_ENV = "TENANTRY_TENANTIZE_KILL_AT"
_SIGNAL_ENV = "TENANTRY_TENANTIZE_SIGNAL"
_count = 0


def checkpoint(label: str) -> None:
    """Count a point where a crash is possible; at the configured one, SIGKILL ourselves."""
    global _count
    _count += 1
    target = os.environ.get(_ENV)
    if target and int(target) == _count:
        os.write(2, f"tenantize: killed at checkpoint {_count} ({label})\n".encode())
        if os.environ.get(_SIGNAL_ENV) == "INT":
            # What Python's SIGINT handler raises, here and now: a SIGINT sent to ourselves
            # was handled wherever the main thread next checked for signals, once (CI, a
            # loaded machine) inside a callback that swallowed it, and the run went on to 0.
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGKILL)


def count() -> int:
    return _count
