"""A live server (uvicorn in a thread, temporary SQLite) and Debian's headless Chromium."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tenantry.models import Base
from tenantry.security.passwords import Passwords, fast_test_hasher
from tenantry_server.app import create_app, default_plugins, migrate
from tenantry_server.settings import Settings
from tests.support.mail import SmtpServer, smtp_server
from tests.support.ports import free_port

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
LIVE_APPS: dict[str, Any] = {}  # base URL -> the app behind it, for tests that set state


@pytest.fixture(scope="session")
def mailbox() -> Iterator[SmtpServer]:
    """The SMTP server (aiosmtpd) the live server sends its mails to."""
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, mailbox: SmtpServer) -> Iterator[str]:
    """The whole server on 127.0.0.1, migrated, with cheap password hashing, mailing by SMTP."""
    with serve(tmp_path_factory.mktemp("browser"), mailbox) as url:
        yield url


@contextmanager
def serve(directory: Path, mailbox: SmtpServer, **overrides: Any) -> Iterator[str]:
    """A live server in ``directory`` with settings ``overrides``; its base URL."""
    port = free_port()
    settings = Settings(
        database_url=f"sqlite:///{directory}/browser.sqlite3",
        data_dir=directory,
        secret_key="b" * 48,
        smtp_url=mailbox.url,
        public_url=f"http://127.0.0.1:{port}",
        **overrides,
    )
    plugins = default_plugins()
    migrate(settings, plugins)
    app = create_app(settings, plugins, passwords=Passwords(fast_test_hasher()))
    # Every browser test signs people up from 127.0.0.1 against this one server: the
    # per-address limits would throttle the suite (a 6th sign-up a minute), not an attacker.
    tenancy = app.state.tenancy
    tenancy.config = replace(
        tenancy.config, register_rate="600/minute", login_rate="600/minute", join_rate="600/minute"
    )
    # The session also imported the test-only tables (tests/support): an export walks
    # every mapped tenant table, so they must exist here too, as in tests/conftest.py.
    Base.metadata.create_all(app.state.tenancy.db.engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    LIVE_APPS[f"http://127.0.0.1:{port}"] = app
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    if app.state.tenancy.billing is not None:
        app.state.tenancy.billing.close()
    app.state.tenancy.db.dispose()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
