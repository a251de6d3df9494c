"""Delete a household and restore it, download one's own data, in a real Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_household_journey import PASSWORD, new_page, sign_up

pytestmark = pytest.mark.browser


def test_delete_and_restore_a_household(browser: Any, live_server: str, screenshots: Path) -> None:
    shot = lambda page, name: page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)  # noqa: E731

    # Nora owns "Nora's cottage"; Piet is a member.
    nora = new_page(browser, live_server)
    sign_up(nora, "nora@example.com", household="Nora's cottage")
    base = nora.url.removesuffix("/dashboard")
    nora.goto(f"{base}/household")
    nora.click("#invites button[type=submit]")
    code = nora.inner_text("#invite-code").strip()
    piet = new_page(browser, live_server)
    sign_up(piet, "piet@example.com", code=code)
    assert piet.url == f"{base}/dashboard"
    piet.goto(f"{base}/household")
    assert piet.locator("#delete").count() == 0  # only owners see the button

    # A wrong name is refused; the exact name deletes.
    nora.goto(f"{base}/household")
    nora.fill("#delete input[name=confirm]", "Nora cottage")
    nora.click("#delete button[type=submit]")
    assert "type its name exactly" in nora.inner_text("[role=alert]")
    nora.fill("#delete input[name=confirm]", "Nora's cottage")
    shot(nora, "household-delete")
    nora.click("#delete button[type=submit]")
    nora.wait_for_url(re.compile(r"/account\?msg=deleted$"))
    assert "The household was deleted" in nora.inner_text("[role=status]")
    restorable = nora.locator('#deleted-households li[data-name="Nora\'s cottage"]')
    assert restorable.count() == 1
    shot(nora, "account-deleted-household")

    # Piet loses access on his very next request.
    response = piet.goto(f"{base}/readings")
    assert response.status == 404
    assert "deleted" in piet.inner_text("#error-message")

    # Nora restores it: both are back in, with everything as it was.
    restorable.locator("button").click()
    nora.wait_for_url(f"{base}/dashboard")
    assert "Nora's cottage" in nora.inner_text("#household-switcher")
    assert piet.goto(f"{base}/readings").status == 200
    for page in (nora, piet):
        page.context.close()


def test_download_my_data_and_erase_the_account(browser: Any, live_server: str) -> None:
    rosa = new_page(browser, live_server)
    sign_up(rosa, "rosa@example.com", household="Rosa's room")
    rosa.click("#household-switcher")
    rosa.click("text=Your account and data")
    rosa.wait_for_url(re.compile(r"/account$"))
    with rosa.expect_download() as download_info:
        rosa.click("#download-my-data")
    document = json.loads(Path(download_info.value.path()).read_text())
    assert document["profile"]["email"] == "rosa@example.com"
    assert [m["tenant_name"] for m in document["memberships"]] == ["Rosa's room"]
    rosa.on("dialog", lambda dialog: dialog.accept())  # the "for good?" confirmation
    rosa.fill("#erase input[name=confirm]", "rosa@example.com")
    rosa.fill("#erase input[name=password]", PASSWORD)
    rosa.click("#erase button[type=submit]")
    rosa.wait_for_url(re.compile(r"/signin$"))
    rosa.fill("input[name=email]", "rosa@example.com")
    rosa.fill("input[name=password]", PASSWORD)
    rosa.click("button[type=submit]")
    assert "wrong email or password" in rosa.content()
    rosa.context.close()
