"""Start each system under test in its own process on 127.0.0.1, and stop it afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Running:
    base: str  # http://127.0.0.1:PORT
    pid: int

    @property
    def readings(self) -> str:
        return self.base + "/api/readings"


# What starts a server for a ``with`` block (bench.run's and bench.peer's servers).
Starter = Callable[[], AbstractContextManager[Running]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def uvicorn_cmd(app: str, port: int, workers: int = 1, python: str = sys.executable) -> list[str]:
    """One worker: plain uvicorn; more: ``bench.multiworker``, each worker on its own socket."""
    if workers > 1:
        return [python, "-m", "bench.multiworker", app, str(port), str(workers)]
    return [
        python, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip


def _answers(port: int) -> bool:
    """Any HTTP answer (a 404 will do): a worker is serving, not just the socket bound."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            return s.recv(12).startswith(b"HTTP/1.1")
    except OSError:
        return False


@contextmanager
def running(
    name: str, cmd: list[str], env: Mapping[str, str], port: int, *, log: Path, wait: float = 180
) -> Iterator[Running]:
    """Run ``cmd`` until the block ends; its output goes to ``log`` (shown if it fails)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + wait
        while not _answers(port):
            if time.monotonic() > deadline or proc.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} did not start:\n{tail}")
            time.sleep(0.1)
        yield Running(f"http://127.0.0.1:{port}", proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
