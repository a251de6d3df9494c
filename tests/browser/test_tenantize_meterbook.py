"""A seed-000 database converted by tenantize (target mode), served, and used in Chromium:
a migrated user signs in with their old bcrypt password and reads their own data."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.migrate import seeds
from tests.migrate.test_target import converted, serve

pytestmark = pytest.mark.browser


@pytest.fixture
def converted_server(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'electricity.db'}"
    converted(url, tmp_path)
    app = serve(url, tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    app.state.tenancy.db.dispose()


def test_migrated_user_reads_readings_and_dashboard(
    browser: Any, converted_server: str, screenshots: Path
) -> None:
    context = browser.new_context(base_url=converted_server, timezone_id="UTC")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/signin")
    page.fill("input[name=email]", "Thandi@Example.com")
    page.fill("input[name=password]", seeds.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/t/[a-z0-9-]+/dashboard$"))
    base = page.url.rsplit("/", 1)[0]
    assert "Thandi's household" in page.inner_text("body")
    page.goto(f"{base}/dashboard?start=2026-03-01&end=2026-03-31")
    assert page.inner_text("#stat-readings strong").strip() == "5"
    assert "136.250" in page.inner_text("#stat-last strong")  # 1000 + 100 + 5 x 7.25 kWh
    assert "29.000" in page.inner_text("#stat-consumed strong")
    page.screenshot(path=str(screenshots / "tenantized-dashboard.png"), full_page=True)
    page.goto(f"{base}/readings")
    table = page.inner_text("#readings")
    assert "107.250" in table and "136.250" in table and "checked" in table
    assert "207.250" not in table  # Ravi's readings stay in Ravi's household
    page.goto(f"{base}/vouchers")
    vouchers = page.inner_text("#vouchers")
    assert "1234-5678-0001" in vouchers and "1234-5678-0003" not in vouchers
    context.close()
