"""fastapi-tenancy as a peer on PostgreSQL with RLS, in a virtual environment of its own.

The venv lives in the bench data dir (``python -m venv`` + ``pip install``), so the
package never enters the project's dependencies. Its database is a copy of the
bench's PostgreSQL fixture whose readings policy reads fastapi-tenancy's setting
(``app.current_tenant``) instead of tenantry's, in the same indexable form.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from psycopg import sql
from tests.support.postgres import APP_ROLE, OWNER_ROLE

from bench.pg_data import PgFixture
from bench.servers import Running, Starter, free_port, running, uvicorn_cmd

PACKAGE = "fastapi-tenancy[jwt,postgres]==0.5.0"
POLICY = (
    "CREATE POLICY peer_isolation ON readings"
    " USING (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid)"
    " WITH CHECK (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid)"
)


def ensure_venv(data: Path) -> Path:
    """The venv's python, creating the venv on first use (kept between runs)."""
    venv = data / "peer-venv"
    python = venv / "bin" / "python"
    marker = venv / ".bench-installed"
    if marker.exists() and marker.read_text() == PACKAGE:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", PACKAGE, "uvicorn", "orjson"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pip install {PACKAGE} failed: {done.stderr.strip()[-1200:]}")
    marker.write_text(PACKAGE)
    return python


def _peer_database(pg: PgFixture) -> str:
    name = pg.database + "_peer"
    with pg.admin("postgres") as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(pg.database), sql.Identifier(OWNER_ROLE)
            )
        )
    with pg.admin(name) as conn:
        policies = conn.execute("SELECT policyname FROM pg_policies WHERE tablename = 'readings'")
        for (policy,) in policies.fetchall():
            conn.execute(sql.SQL("DROP POLICY {} ON readings").format(sql.Identifier(str(policy))))
        conn.execute(POLICY)
    return name


@contextmanager
def peer_servers(pg: PgFixture, data: Path, *, secret: str) -> Iterator[dict[str, Starter]]:
    """Starters of fastapi-tenancy's app without and with its L1 cache, on a database of
    its own made from the fixture (dropped at the end). Enter this before any server
    connects to the fixture's database: PostgreSQL copies a template nobody uses."""
    python = ensure_venv(data)
    name = _peer_database(pg)
    try:
        owner = pg.server.url(OWNER_ROLE, name).replace("+psycopg", "+asyncpg")
        app = pg.server.url(APP_ROLE, name).replace("+psycopg", "+asyncpg")
        tenants = "\n".join(
            json.dumps({"id": str(pg.fixture.tenant_uuid(i)), "slug": f"home-{i}"})
            for i in range(len(pg.fixture.tenant_ids))
        )
        setup = subprocess.run(
            [str(python), "-m", "bench.peer_app", "setup"],
            input=tenants,
            env={"BENCH_URL": owner, "PATH": "/usr/bin:/bin"},
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if setup.returncode != 0:
            raise RuntimeError(f"fastapi-tenancy setup failed: {setup.stderr.strip()[-1200:]}")

        def starter(l1: str) -> Starter:
            def start() -> AbstractContextManager[Running]:
                port = free_port()
                env = {"BENCH_URL": app, "BENCH_PEER_L1": l1, "BENCH_SECRET": secret}
                cmd = uvicorn_cmd("bench.peer_app:app", port, python=str(python))
                return running("fastapi-tenancy", cmd, env, port, log=data / "logs" / "peer.log")

            return start

        yield {"get": starter("0"), "get_l1": starter("1")}
    finally:
        pg.server.drop_database(name)
