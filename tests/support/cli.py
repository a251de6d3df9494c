"""The ``tenantry`` command in a process of its own, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def tenantry(*args: str, code: int = 0) -> str:
    """Run ``tenantry *args``; assert its exit code; return what it printed.

    A process of its own: the models an app's migrations import are mapped classes,
    which the test process's registry would keep after the test.
    """
    cli = Path(sys.executable).parent / "tenantry"
    done = subprocess.run([cli, *args], capture_output=True, text=True, check=False)
    assert done.returncode == code, (done.stdout, done.stderr)
    return done.stdout + done.stderr
