"""``tenantry serve --workers 2``: the documented production setup, started as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tenantry.web.board import Board, board_key
from tests.support.live import sign_up_live
from tests.support.ports import free_port


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # the command may contain spaces: the fields after ")" are fixed
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        "TENANTRY_DATA_DIR": str(tmp_path / "var"),  # no key set: one is generated, once
    }
    env.pop("TENANTRY_SECRET_KEY", None)
    tenantry = Path(sys.executable).parent / "tenantry"
    proc = subprocess.Popen(
        [str(tenantry), "serve", "--workers", "2", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "serve.log").open("wb"),  # a file: a pipe nobody reads fills up
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a guard against hanging, not a measurement
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait(timeout=30)
                err = (tmp_path / "serve.log").read_text()
                raise AssertionError(f"server did not start: {err[-2000:]}")
            time.sleep(0.2)
        yield base, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_two_workers_serve_one_database_with_one_key(
    two_workers: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    base, proc = two_workers
    assert len(_children(proc.pid)) >= 2  # two workers (and perhaps a resource tracker)
    # The tenant cap (4 by default) is the server's: each of the two workers enforces half.
    caps = {
        line.split(b"=", 1)[1]
        for child in _children(proc.pid)
        for line in Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if line.startswith(b"TENANTRY_TENANT_CONCURRENCY=")
    }
    assert caps == {b"2"}
    headers = sign_up_live(base, "w@example.com", tmp_path / "var" / "outbox")
    # New connections each time, spread over both workers: each accepts the token and
    # sees the writes of the other.
    for i in range(12):
        created = httpx.post(
            f"{base}/api/readings",
            json={"read_at": f"2024-01-{i + 1:02d}T12:00:00Z", "meter_kwh": f"{1000 + i}"},
            headers=headers,
            timeout=30,
        )
        assert created.status_code == 201, created.text
        listed = httpx.get(f"{base}/api/readings", headers=headers, timeout=30)
        assert listed.status_code == 200
        assert listed.json()["total"] == i + 1
    # The workers share a fair share through a board file that serve made: their ends of
    # requests are on it, and stopping the server removes it.
    boards = {
        line.split(b"=", 1)[1].decode()
        for child in _children(proc.pid)
        for line in Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if line.startswith(b"TENANTRY_WORKER_BOARD=")
    }
    assert len(boards) == 1
    board = Path(boards.pop())
    assert Board(board).look(board_key("another tenant"), since=0).others_active
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert not board.exists()


def test_each_worker_logs_json_lines(
    two_workers: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    base, proc = two_workers
    for i in range(8):  # new connections each time: both workers answer some
        httpx.get(f"{base}/healthz", headers={"X-Request-ID": f"json-{i}"}, timeout=30)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    output = (tmp_path / "serve.log").read_text().splitlines()
    logged = [orjson.loads(line) for line in output]  # every line is JSON, the workers' too
    requests = [
        line
        for line in logged
        if line["logger"] == "tenantry.request" and line["request_id"].startswith("json-")
    ]
    assert sorted(line["request_id"] for line in requests) == [f"json-{i}" for i in range(8)]
    assert all(line["route"] == "/healthz" and line["status"] == 200 for line in requests)


def _demo_output(tmp_path: Path) -> str:
    """``tenantry serve --demo``'s words, once it answers; then it is stopped."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"}
    env["TENANTRY_DATA_DIR"] = str(tmp_path / "var")
    out = tmp_path / "demo.out"
    tenantry = Path(sys.executable).parent / "tenantry"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [str(tenantry), "serve", "--demo", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=sink,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 180  # a guard against hanging, not a measurement
            while "Metrics:" not in out.read_text() and proc.poll() is None:
                assert time.monotonic() < deadline, out.read_text()
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    return out.read_text()


def test_a_second_demo_run_says_its_sign_ins_again(tmp_path: Path) -> None:
    """`make run` run again printed "Demo sign-in details:" with the metrics line alone
    (outside tester): the households were there, their sign-ins were not said."""
    first = _demo_output(tmp_path)
    assert "thandi@example.com / demo-password-2025 (owner)" in first
    again = _demo_output(tmp_path)
    assert "thandi@example.com / demo-password-2025 (owner)" in again
    assert "ops@example.com / demo-operator-2025 (platform admin)" in again
