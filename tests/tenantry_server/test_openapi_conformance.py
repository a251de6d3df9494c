"""The server's OpenAPI document against the server itself: schemathesis, all checks, live.

A real uvicorn on SQLite, a signed-in token, a bounded number of examples per
operation. The one check left out, ``positive_data_acceptance``, expects every
schema-valid request to succeed; domain rules no JSON Schema can state refuse
some (docs/api.md, "Accepted schemathesis findings").
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tenantry.testing import unique_email
from tests.support.live import sign_up_live
from tests.support.ports import free_port

SERVER = """
import sys
import uvicorn
from pathlib import Path
from tenantry_server.app import create_app, default_plugins, migrate
from tenantry_server.settings import Settings
data = Path(sys.argv[1])
# Request budgets off: a thousand generated requests would otherwise meet 429 before validation.
settings = Settings(
    database_url=f"sqlite:///{data}/db.sqlite3", data_dir=data, secret_key="s" * 64,
    request_budgets=False, user_rate="100000/minute", join_rate="100000/minute",
)
migrate(settings, default_plugins())
uvicorn.run(create_app(settings), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""
EXCLUDED = ["positive_data_acceptance"]
# 402: a plan refuses the feature before the body is read (an import's bad CSV included).
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "402", "403", "404", "405", "406", "409", "413", "415", "422"]
"""
EXAMPLES = 3


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tmp_path), str(port)], stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError((tmp_path / "server.log").read_text())
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.mark.timeout(900)  # a live server or a fresh venv: slow on a loaded machine
def test_the_schema_matches_the_server(server: str, tmp_path: Path) -> None:
    headers = sign_up_live(server, unique_email(), tmp_path / "outbox")
    token = headers["Authorization"].removeprefix("Bearer ")
    binary = Path(sys.executable).with_name("schemathesis")
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        [
            str(binary),
            "--config-file",
            str(config),
            "run",
            f"{server}/openapi.json",
            "-H",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            "--exclude-checks",
            ",".join(EXCLUDED),
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            "1",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    summary = done.stdout[done.stdout.find("SUMMARY") :]
    assert done.returncode == 0, done.stdout[-6000:]
    assert "Tested: " in summary and "failure" not in summary.split("Test cases:")[-1]
