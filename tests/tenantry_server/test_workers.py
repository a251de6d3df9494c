"""``tenantry serve --workers 2``: metrics summed over the worker processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

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
