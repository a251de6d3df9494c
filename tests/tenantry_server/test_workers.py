"""``tenantry serve --workers 2``: metrics summed over the worker processes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.ports import free_port


def test_two_workers_report_every_request(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/workers.sqlite3",
        "TENANTRY_DATA_DIR": str(tmp_path),
        "TENANTRY_METRICS_TOKEN": "t" * 40,
        "TENANTRY_SECRET_KEY": "k" * 40,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    tenantry = Path(sys.executable).parent / "tenantry"
    server = subprocess.Popen(
        [str(tenantry), "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 150  # two workers import the app; the machine is shared
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
        for _ in range(40):  # new connections each time: the workers share them
            assert httpx.get(f"{base}/healthz").status_code == 200
        counts = []
        for _ in range(6):
            metrics = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer " + "t" * 40})
            assert metrics.status_code == 200
            found = re.search(
                r'tenantry_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)',
                metrics.text,
            )
            assert found is not None
            counts.append(float(found.group(1)))
        # Whichever worker answers the scrape, it reports both workers' requests.
        assert counts == [40.0] * 6
        assert (tmp_path / "prometheus").is_dir()
        assert len(list((tmp_path / "prometheus").glob("counter_*.db"))) >= 2
    finally:
        server.terminate()
        server.wait(timeout=30)


def _connections_per_worker(server: int, port: int) -> list[int]:
    """Established connections to ``port`` held by each worker of the ``server`` process
    (its children listening on the port), read from /proc as ``ss -p`` does."""
    listening, established = set(), set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            {"0A": listening, "01": established}.get(fields[3], set()).add(fields[9])
    counts = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) != server:
                continue
            inodes = set()
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
        except OSError:  # a process that ended meanwhile
            continue
        if inodes & listening:
            counts.append(len(inodes & established))
    return counts


def test_two_workers_each_take_a_share_of_a_burst_of_connections(tmp_path: Path) -> None:
    """Clients that keep their connections (a proxy's pool) reach both workers: with one
    shared socket, the worker that woke first accepted nearly all of a burst."""
    port = free_port()
    server = subprocess.Popen(
        _serve(port), env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    clients: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 150
        while len(_connections_per_worker(server.pid, port)) < 2:
            assert time.monotonic() < deadline, "the workers did not start listening"
            time.sleep(0.3)
        while httpx.get(f"http://127.0.0.1:{port}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        counts: list[int] = []
        while sum(counts) < 32 and time.monotonic() < deadline:  # accepted by now?
            time.sleep(0.1)
            counts = _connections_per_worker(server.pid, port)
        assert sum(counts) == 32 and len(counts) == 2, counts
        assert min(counts) >= 6, f"one worker took nearly every connection: {counts}"
    finally:
        for client in clients:
            client.close()
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_refuse_an_address_already_in_use(tmp_path: Path, workers: int) -> None:
    """Workers' sockets share a port with each other only: another server listening there
    is an error, not a neighbour that quietly takes half of its connections. Said before
    anything starts: one worker migrated, took jobs off the shared queue, then died with
    uvicorn's bind error (outside tester)."""
    with socket.socket() as taken:  # as another server's workers would take it
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            _serve(port, workers), env=_env(tmp_path), capture_output=True, text=True, timeout=120
        )
    assert done.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "workers.sqlite3").exists()  # nothing migrated, nothing started


def _serve(port: int, workers: int = 2) -> list[str]:
    """``tenantry serve --workers N`` on ``port``."""
    tenantry = Path(sys.executable).parent / "tenantry"
    return [str(tenantry), "serve", "--workers", str(workers), "--port", str(port)]


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/workers.sqlite3",
        "TENANTRY_DATA_DIR": str(tmp_path),
        "TENANTRY_SECRET_KEY": "k" * 40,
    }
