"""An operator moves a household to a database of its own from the console, in Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LIVE_APPS, serve
from tests.browser.steps import new_page, sign_up
from tests.support.mail import SmtpServer
from tests.support.placement import prepare_test_tables, sqlite_server, write_placements

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def placed_server(tmp_path_factory: pytest.TempPathFactory, mailbox: SmtpServer) -> Iterator[str]:
    """A live server whose placement configuration has one server: ``files``."""
    directory = tmp_path_factory.mktemp("placed")
    toml = write_placements(
        directory / "placements.toml", {"files": sqlite_server(directory / "tenants")}
    )
    with serve(directory, mailbox, TENANTRY_PLACEMENTS=toml) as url:  # the field's alias
        LIVE_APPS[url].state.tenancy.placements.prepare = prepare_test_tables
        yield url


def test_an_operator_moves_a_household_and_watches_it_finish(
    browser: Any, placed_server: str, mailbox: SmtpServer, screenshots: Path
) -> None:
    from tenantry.platform_admins import set_platform_admin

    owner = new_page(browser, placed_server)
    sign_up(owner, mailbox, "erin@example.com", household="Erin's flat")
    dashboard = owner.url

    ops = new_page(browser, placed_server)
    sign_up(ops, mailbox, "placer@example.com", household="Placement desk")
    with LIVE_APPS[placed_server].state.tenancy.db.session() as session:
        set_platform_admin(session, email="placer@example.com", grant=True)
    ops.goto("/console?q=erin")
    row = ops.locator("tr[data-slug^=erin]")
    assert row.locator("td.placement").inner_text() == "shared"
    row.locator("a").click()
    ops.wait_for_selector("#placement")
    assert "shared tables" in ops.inner_text("#placement-where")

    # Start the move (confirmed); the page follows it by itself until it is done.
    ops.select_option("select[name=target]", "dedicated:files")
    ops.once("dialog", lambda dialog: dialog.accept())
    ops.click("#start-move")
    ops.wait_for_selector("text=Move started")
    ops.wait_for_selector("#move-status[data-status=done]", timeout=60_000)
    where = ops.inner_text("#placement-where")
    assert "database of its own" in where and "files" in where
    assert re.search(r"dedicated", ops.inner_text("#stat-placement"))
    assert ops.locator("#read-only-note").count() == 0
    assert "platform.move_started" in ops.inner_text("#audit")
    ops.screenshot(path=str(screenshots / "console-placement.png"), full_page=True)

    # The household goes on in its new database.
    assert owner.goto(dashboard).status == 200
    ops.goto("/console?q=erin")
    assert "dedicated · files" in ops.locator("tr[data-slug^=erin] td.placement").inner_text()
