"""``Board``: what other worker processes run, as the fair share sees it.

The other process is real: a child Python process holding its own row of the same file,
told by a line on stdin what to run and end.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from tenantry.web.board import NOTHING, Board, board_key, new_board_file
from tenantry.web.slots import TenantSlots
from tests.tenantry.web.test_slots import requests

_CHILD = textwrap.dedent(
    """
    import sys, time
    from tenantry.web.board import Board, board_key

    board = Board(sys.argv[1])
    running = {}
    for line in sys.stdin:
        verb, key = line.split()
        k = board_key(key)
        if verb == "run":
            running[key] = running.get(key, 0) + 1
            board.started(k, running[key], sum(running.values()), time.monotonic())
        else:
            running[key] -= 1
            board.ended(k, running[key], sum(running.values()), time.monotonic())
        print("ok", flush=True)
    """
)


class Worker:
    """Another process on the board, running and ending requests when told."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def tell(self, verb: str, key: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{verb} {key}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline() == "ok\n"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def other(tmp_path: Path) -> Iterator[Worker]:
    worker = Worker(tmp_path / "board")
    try:
        yield worker
    finally:
        worker.stop()


def test_a_process_sees_what_another_runs_and_what_it_ended_lately(
    tmp_path: Path, other: Worker
) -> None:
    board = Board(tmp_path / "board")
    a, b = board_key("A"), board_key("B")
    assert board.look(a, time.monotonic()) is NOTHING
    before = time.monotonic()
    other.tell("run", "A")
    other.tell("run", "A")
    seen = board.look(a, time.monotonic())
    assert (seen.running, seen.total, seen.others_active) == (2, 2, False)
    assert seen.last_start >= before
    other.tell("run", "B")
    seen = board.look(a, time.monotonic())
    assert (seen.running, seen.total, seen.others_active) == (2, 3, True)
    assert board.look(b, time.monotonic()).running == 1
    ended = time.monotonic()
    other.tell("end", "B")
    seen = board.look(a, ended - 1)  # B ended after "since": active lately
    assert (seen.running, seen.total, seen.others_active) == (2, 2, True)
    assert board.look(a, time.monotonic()).others_active is False  # not since now
    # From B's side, A's ends are the others' activity.
    other.tell("end", "A")
    assert board.look(b, ended).others_active is True
    assert board.look(b, time.monotonic()).running == 0


def test_a_dead_process_counts_for_nothing_and_its_row_is_taken_over(
    tmp_path: Path, other: Worker
) -> None:
    other.tell("run", "A")
    assert Board(tmp_path / "board").look(board_key("A"), 0).running == 1
    other.stop()
    assert Board(tmp_path / "board").look(board_key("A"), 0) is NOTHING
    # 64 processes may hold rows: a new one finds the dead one's row free.
    newcomer = Worker(tmp_path / "board")
    try:
        newcomer.tell("run", "B")
        seen = Board(tmp_path / "board").look(board_key("A"), 0)
        assert (seen.running, seen.total) == (0, 1)
    finally:
        newcomer.stop()


def test_a_forked_child_takes_a_row_of_its_own(tmp_path: Path) -> None:
    """A worker forked after the board was in use writes its own row, not its parent's."""
    board = Board(tmp_path / "board")
    a = board_key("a")
    board.started(a, 1, 1, time.monotonic())  # the parent's row, taken before the fork
    context = multiprocessing.get_context("fork")
    ready, done = context.Event(), context.Event()

    def child() -> None:
        board.started(a, 1, 1, time.monotonic())
        ready.set()
        done.wait(10)

    process = context.Process(target=child)
    process.start()
    try:
        assert ready.wait(10)
        assert board.look(a, time.monotonic()).running == 1  # the child's, seen from here
    finally:
        done.set()
        process.join(10)


def test_keys_mean_the_same_in_every_process() -> None:
    import uuid

    tenant = uuid.UUID("5f0c1e9e-8d7b-4a53-9e64-0a1b2c3d4e5f")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, uuid; from tenantry.web.board import board_key; "
            "print(board_key('acme'), board_key(uuid.UUID(sys.argv[1])))",
            str(tenant),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == [str(board_key("acme")), str(board_key(tenant))]


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for a waiter that looks at the board every few ms (a guard, not a timing)."""
    with anyio.fail_after(30):
        while not condition():
            await anyio.sleep(0.005)


@pytest.mark.anyio
async def test_the_share_is_the_machines_while_another_tenant_is_active(
    tmp_path: Path, other: Worker
) -> None:
    board = Board(tmp_path / "board")
    slots = TenantSlots(per_tenant=4, process=1, patience=math.inf, board=board, quiet=math.inf)
    async with requests(slots) as r:
        other.tell("run", "A")
        # A alone on the machine: its request here uses this process's share.
        await r.send("A", "a1")
        assert r.started == ["a1"]
        await r.finish("a1")
        # B runs in the other process: A runs there already, so here A waits...
        other.tell("run", "B")
        await r.send("A", "a2")
        # ...while C's first request on the machine starts at once.
        await r.send("C", "c1")
        assert r.started == ["a1", "c1"]
        await r.finish("c1")
        assert "a2" not in r.started  # B still runs elsewhere
        other.tell("end", "B")
        await anyio.sleep(0.05)  # ten looks at the board: B ended lately (quiet=inf)
        assert "a2" not in r.started
        # A's request over there ends: a2 is A's first on the machine and starts.
        other.tell("end", "A")
        await _until(lambda: "a2" in r.started)
        await r.finish("a2")


@pytest.mark.anyio
async def test_a_tenant_alone_again_uses_every_workers_share(tmp_path: Path, other: Worker) -> None:
    board = Board(tmp_path / "board")
    slots = TenantSlots(per_tenant=4, process=1, patience=math.inf, board=board, quiet=0)
    async with requests(slots) as r:
        other.tell("run", "A")
        other.tell("run", "B")
        await r.send("A", "a1")
        assert r.started == []  # A runs over there, and B is active
        other.tell("end", "B")  # with no quiet time, B is gone at once
        await _until(lambda: "a1" in r.started)
        await r.finish("a1")


@pytest.mark.anyio
async def test_patience_counts_the_tenants_starts_in_other_processes(
    tmp_path: Path, other: Worker
) -> None:
    # A's request over there started just now: A's request here waits its patience from
    # that start, not from a start of its own (it has none here).
    board = Board(tmp_path / "board")
    slots = TenantSlots(per_tenant=4, process=1, patience=3600, board=board, quiet=math.inf)
    async with requests(slots) as r:
        other.tell("run", "A")
        other.tell("run", "B")
        await r.send("A", "a1")
        await anyio.sleep(0.05)
        assert r.started == []
        other.tell("end", "A")
        await _until(lambda: "a1" in r.started)
        await r.finish("a1")


def test_a_new_board_file_removes_those_of_dead_servers_only(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    dead = tmp_path / f"tenantry-{int(gone.stdout)}-abc123.board"
    live = tmp_path / f"tenantry-{os.getppid()}-def456.board"  # the test runner's parent
    other = tmp_path / "tenantry-notes.board"
    for path in (dead, live, other):
        path.write_bytes(b"x")
    made = new_board_file(tmp_path)
    assert made.name.startswith(f"tenantry-{os.getpid()}-") and made.stat().st_size == 0
    assert not dead.exists()
    assert live.exists() and other.exists()
    assert Board(made).look(board_key("a tenant"), since=0) == NOTHING
