"""Two server processes and a worker on one real Redis, as a production setup runs.

Limits are shared (not doubled), the cache stays per tenant across processes, a
job enqueued in tenant A runs in A only and is refused once A is suspended, and
a Redis outage costs no request a 500 and loses no job. Mail is a job too: a
server queues it, a worker sends it, through a Redis outage and an SMTP one.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_client

from tenantry_server.settings import Settings
from tests.support.live import sign_up_live
from tests.support.mail import SmtpServer
from tests.support.redis import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.parametrize("settings", ["sqlite"], indirect=True)]

ROOT = Path(__file__).resolve().parents[2]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _flat_plans(directory: Path) -> Path:
    """One plan that names no request rate, so TENANTRY_TENANT_RATE is the tenants' budget."""
    path = directory / "plans.toml"
    path.write_text('default = "flat"\n[[plans]]\nname = "flat"\n')
    return path


class Processes:
    def __init__(self, settings: Settings, redis: RedisServer, tmp: Path) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "TENANTRY_DATA_DIR": str(settings.data_dir),
            "TENANTRY_SECRET_KEY": "s" * 64,
            "REDIS_URL": redis.url,
            "TENANTRY_WORKER_IN_PROCESS": "false",
            "TENANTRY_TENANT_RATE": "30/minute",
            "TENANTRY_PLANS_FILE": str(_flat_plans(tmp)),
            # This checkout's code, not whichever tenantry the interpreter has installed.
            "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        }
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def server(self, name: str) -> str:
        port = _port()
        args = [sys.executable, "-m", "uvicorn", "--factory", "tests.support.serve:app"]
        self._start(name, [*args, "--port", str(port), "--log-level", "warning"])
        url = f"http://127.0.0.1:{port}"
        # Its imports alone took over 40 s once, on a CI machine running two suites.
        try:
            _until(lambda: _up(url), f"server {name} did not start", seconds=120)
        except AssertionError:
            raise AssertionError(f"server {name} did not start: {self.log(name)}") from None
        return url

    def worker(self) -> None:
        self._start("worker", [sys.executable, "-m", "tests.support.serve", "worker"])

    def _start(self, name: str, args: list[str]) -> None:
        log = (self.tmp / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.terminate()
        proc.wait(10)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _until(check: Callable[[], Any], message: str, seconds: float = 40) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(message)


@pytest.fixture
def procs(settings: Settings, redis: RedisServer, tmp_path: Path) -> Iterator[Processes]:
    processes = Processes(settings, redis, tmp_path)
    yield processes
    processes.stop_all()


def _notes(url: str, who: dict[str, str]) -> list[str]:
    answer = httpx.get(f"{url}/api/notes", headers=who)
    assert answer.status_code == 200, answer.text
    return [n["body"] for n in answer.json()]


def _note_rows(settings: Settings, body: str) -> int:
    path = settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return int(
            conn.execute("SELECT count(*) FROM app_notes WHERE body = ?", (body,)).fetchone()[0]
        )


def test_two_servers_and_a_worker_on_one_redis(
    procs: Processes, settings: Settings, redis: RedisServer
) -> None:
    outbox = settings.data_dir / "outbox"
    one, two = procs.server("one"), procs.server("two")
    procs.worker()
    alice, bob = (
        sign_up_live(one, "alice@example.com", outbox),
        sign_up_live(two, "bob@example.com", outbox),
    )

    # A job queued through one server runs (in the worker) in alice's tenant only.
    assert httpx.post(f"{one}/api/notes/later", json={"body": "job-a"}, headers=alice).is_success
    # Polled in the database: polling the API would spend the tenant's 30 requests a minute.
    _until(lambda: _note_rows(settings, "job-a") == 1, "the job did not run")
    assert "job-a" in _notes(two, alice)
    assert "job-a" not in _notes(one, bob)

    # The dashboard cache: filled through one server, invalidated through the other.
    def at(days: int) -> str:
        return (datetime.now(UTC) - timedelta(days=days)).isoformat()

    for when, kwh in ((at(3), "100"), (at(2), "110")):
        reading = {"read_at": when, "meter_kwh": kwh}
        assert httpx.post(f"{one}/api/readings", json=reading, headers=alice).status_code == 201
    dashboard = f"{two}/api/dashboard"
    assert httpx.get(dashboard, headers=alice).json()["consumed_kwh"] == "10.000"
    # In Redis, not in the data directory the two servers also share.
    client = redis_client.Redis.from_url(redis.url)
    assert client.keys("tenantry:cache:*:dashboard:*")
    client.close()
    assert not (settings.data_dir / "cache").exists()
    reading = {"read_at": at(1), "meter_kwh": "125"}
    assert httpx.post(f"{one}/api/readings", json=reading, headers=alice).status_code == 201
    assert httpx.get(dashboard, headers=alice).json()["consumed_kwh"] == "25.000"
    assert httpx.get(f"{one}/api/dashboard", headers=bob).json()["consumed_kwh"] != "25.000"

    # A job queued before the tenant is suspended is refused when it comes to run.
    procs.stop("worker")
    assert httpx.post(f"{one}/api/notes/later", json={"body": "job-s"}, headers=alice).is_success
    path = settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE tenantry_tenants SET status = 'suspended' WHERE name = 'alice'")
    procs.worker()
    _until(lambda: "refused" in procs.log("worker"), "the worker did not refuse the job")
    assert _note_rows(settings, "job-s") == 0

    # Limits: thirty requests a minute for bob's tenant, whichever server answers.
    statuses = [
        httpx.get(f"{(one, two)[i % 2]}/api/notes", headers=bob).status_code for i in range(40)
    ]
    assert statuses.count(200) <= 30
    assert statuses[-5:] == [429] * 5

    # Redis dies: requests still answer, a queued job waits on disk, then runs.
    carol = sign_up_live(one, "carol@example.com", outbox)
    redis.stop()
    assert httpx.get(f"{one}/api/notes", headers=carol).status_code == 200
    assert httpx.get(f"{two}/api/dashboard", headers=carol).status_code == 200
    answer = httpx.post(f"{one}/api/notes/later", json={"body": "job-o"}, headers=carol)
    assert answer.status_code == 202, answer.text
    redis.start()
    _until(lambda: _note_rows(settings, "job-o") == 1, "the spooled job never ran", seconds=30)
    assert "job-o" in _notes(two, carol)


def _register(url: str, email: str) -> None:
    body = {"email": email, "password": "a long enough password", "tenant_name": "t"}
    answer = httpx.post(f"{url}/api/auth/register", json=body, timeout=30)
    assert answer.status_code == 202, answer.text


def test_mail_leaves_through_a_worker_and_outlives_redis_and_smtp_outages(
    procs: Processes, settings: Settings, redis: RedisServer, smtp: SmtpServer
) -> None:
    procs.env["TENANTRY_SMTP_URL"] = smtp.url
    spool = settings.data_dir / "spool"
    one = procs.server("one")  # TENANTRY_WORKER_IN_PROCESS=false: it queues, never sends

    # The server queues the welcome mail; only a worker process, started later, sends it.
    _register(one, "dana@example.com")
    time.sleep(1)
    assert smtp.messages() == []
    procs.worker()
    smtp.wait_for("dana@example.com", "welcome", timeout=40)

    # Redis is down when the mail is queued: it waits in the spool, and leaves when Redis is back.
    redis.stop()
    _register(one, "erin@example.com")
    assert len(list(spool.glob("*.json"))) == 1
    redis.start()
    smtp.wait_for("erin@example.com", "welcome", timeout=40)
    _until(lambda: not list(spool.glob("*.json")), "the spool did not empty")

    # The SMTP server is down when the worker sends: retried, the mail leaves once it is back.
    smtp.stop()
    _register(one, "finn@example.com")
    _until(lambda: "failed (attempt 1)" in procs.log("worker"), "no failed attempt logged")
    smtp.start()
    smtp.wait_for("finn@example.com", "welcome", timeout=40)

    # Each mail left once.
    assert sorted(m["To"] for m in smtp.messages()) == [
        "dana@example.com",
        "erin@example.com",
        "finn@example.com",
    ]
