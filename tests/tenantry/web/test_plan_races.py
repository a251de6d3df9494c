"""Limits under races: two server processes on one database, 50 simultaneous requests.

With one seat (or one row) left, exactly one of 50 requests is admitted, 20 runs
out of 20, on SQLite and PostgreSQL. The two ``tenantry serve`` processes share
nothing but the database, so only the database's locking can make this hold.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from meterbook.models import Voucher
from tenantry import invites, tenants
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.ids import TenantId, UserId
from tenantry.models import Invite, Membership, PlanOverride, User
from tenantry.roles import Role
from tenantry.security.tokens import TokenService
from tenantry_server.settings import Settings
from tests.support.ports import free_port

RUNS = 20
RACERS = 50
SECRET = "s" * 64  # tests/conftest.py make_settings


@contextmanager
def two_servers(settings: Settings, tmp_path: Path) -> Iterator[list[str]]:
    """Two ``tenantry serve`` processes on the same database; their base URLs."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "TENANTRY_SECRET_KEY": SECRET,
        "TENANTRY_DATA_DIR": str(tmp_path),
        "TENANTRY_JOIN_RATE": "100000/minute",
        # Each process runs as many of the tenant's requests at once as its cap allows: the
        # fair share would queue them, and the race is what this suite is about.
        "TENANTRY_PROCESS_CONCURRENCY": "64",
    }
    if settings.migration_database_url:
        env["MIGRATION_DATABASE_URL"] = settings.migration_database_url
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for n in range(2):
            port = free_port()
            log = open(tmp_path / f"server{n}.log", "wb")  # noqa: SIM115 - closed with the process
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        "from tenantry_server.cli import app; app()",
                        "serve",
                        "--port",
                        str(port),
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for proc, url in zip(procs, urls, strict=True):
            _wait_up(proc, url, tmp_path)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_up(proc: subprocess.Popen[bytes], url: str, logs: Path) -> None:
    deadline = time.monotonic() + 180  # a loaded CI machine starts slowly
    while True:
        if proc.poll() is not None:
            text = "\n".join(p.read_text(errors="replace") for p in logs.glob("server*.log"))
            raise RuntimeError(f"the server exited:\n{text}")
        try:
            if httpx.get(f"{url}/healthz", timeout=10).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.1)


@contextmanager
def racing_clients(urls: list[str]) -> Iterator[list[httpx.Client]]:
    """One client per racer, alternating servers, kept for every run: building an
    ``httpx.Client`` costs ~20 ms (its TLS context), which 1,000 fresh ones a test paid."""
    clients = [httpx.Client(base_url=urls[n % len(urls)], timeout=60) for n in range(RACERS)]
    try:
        yield clients
    finally:
        for client in clients:
            client.close()


def _race(
    clients: list[httpx.Client], requests: list[tuple[str, dict[str, str], dict[str, object]]]
) -> Counter[str]:
    """Fire every ``(path, headers, body)`` at once, one per client; tally the answers."""
    barrier = threading.Barrier(len(requests))
    answers: list[str] = []
    lock = threading.Lock()

    def fire(
        client: httpx.Client, path: str, headers: dict[str, str], body: dict[str, object]
    ) -> None:
        barrier.wait()
        response = client.post(path, json=body, headers=headers)
        code = f"{response.status_code}"
        if response.status_code >= 400:
            code += f" {response.json()['error']['code']}"
        with lock:
            answers.append(code)

    threads = [
        threading.Thread(target=fire, args=(client, *request))
        for client, request in zip(clients, requests, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Counter(answers)


def _owner_with_tenant(db: Database, run: int) -> tuple[User, uuid.UUID]:
    with db.session() as s:
        owner = User(email=f"owner{run}-{uuid.uuid4().hex[:6]}@example.com", password_hash="x")
        s.add(owner)
        s.flush()
        tenant = tenants.create_tenant(s, owner_id=owner.id, name=f"Race {run}")
        return owner, tenant.id


@pytest.mark.timeout(900)
def test_one_seat_left_admits_exactly_one_of_50_joins(settings: Settings, tmp_path: Path) -> None:
    """Free allows 2 members: the owner plus one seat; 50 users race for it, 20 times."""
    db = Database(settings.database_url)
    tokens = TokenService(SECRET, issuer="tenantry", audience="tenantry-api")
    with db.session() as s:
        racers = [User(email=f"racer{i}@example.com", password_hash="x") for i in range(RACERS)]
        s.add_all(racers)
        s.flush()
        ids = [u.id for u in racers]
    headers = [
        {
            "Authorization": "Bearer "
            + tokens.issue(user_id=i, tenant_id=uuid.uuid4(), role=Role.MEMBER)[0]
        }
        for i in ids
    ]
    try:
        with two_servers(settings, tmp_path) as urls, racing_clients(urls) as clients:
            for run in range(RUNS):
                owner, tenant_id = _owner_with_tenant(db, run)
                with db.session() as s:
                    _, code = invites.create_invite(
                        s, tenant_id=tenant_id, actor=Role.OWNER, actor_id=owner.id, max_uses=RACERS
                    )
                answers = _race(
                    clients, [("/api/invites/join", h, {"code": code}) for h in headers]
                )
                assert answers == Counter({"200": 1, "402 quota_exceeded": RACERS - 1}), (
                    run,
                    answers,
                )
                with db.sessions() as s:
                    members = s.scalar(
                        select(func.count())
                        .select_from(Membership)
                        .where(Membership.tenant_id == tenant_id)
                    )
                    uses = s.scalar(select(Invite.uses).where(Invite.tenant_id == tenant_id))
                assert (members, uses) == (2, 1), run
    finally:
        db.dispose()


@pytest.mark.timeout(900)
def test_one_row_left_admits_exactly_one_of_50_inserts(settings: Settings, tmp_path: Path) -> None:
    """A household granted one voucher (an override): 50 simultaneous adds store one, 20 times."""
    db = Database(settings.database_url)
    tokens = TokenService(SECRET, issuer="tenantry", audience="tenantry-api")
    body: dict[str, object] = {"purchased_on": "2026-11-01", "amount": "100.00", "kwh": "50.000"}
    try:
        with two_servers(settings, tmp_path) as urls, racing_clients(urls) as clients:
            for run in range(RUNS):
                owner, tenant_id = _owner_with_tenant(db, run)
                with db.session() as s:
                    s.add(PlanOverride(tenant_id=tenant_id, name="rows.vouchers", value=1))
                token = tokens.issue(user_id=owner.id, tenant_id=tenant_id, role=Role.OWNER)[0]
                headers = {"Authorization": f"Bearer {token}"}
                answers = _race(clients, [("/api/vouchers", headers, body)] * RACERS)
                assert answers == Counter({"201": 1, "402 quota_exceeded": RACERS - 1}), (
                    run,
                    answers,
                )
                ctx = TenantContext(TenantId(tenant_id), UserId(owner.id), Role.OWNER)
                with tenant_scope(ctx), db.sessions() as s:
                    assert s.scalar(select(func.count()).select_from(Voucher)) == 1, run
    finally:
        db.dispose()
