"""Plan & usage in Chromium: usage bars, a feature the plan lacks, seats, upgrade, downgrade."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.steps import new_page, sign_up
from tests.support.mail import SmtpServer

pytestmark = pytest.mark.browser

CSV = "read_at,meter_kwh\n2026-01-01T08:00:00Z,100\n2026-01-02T08:00:00Z,112\n"


def gauge(page: Any, limit: str) -> tuple[str, str]:
    row = page.locator(f"#plan .gauge[data-limit='{limit}']")
    return row.get_attribute("data-state") or "", row.locator(".value").inner_text().strip()


def test_plan_and_usage(
    browser: Any, live_server: str, mailbox: SmtpServer, screenshots: Path, tmp_path: Path
) -> None:
    owner = new_page(browser, live_server)
    sign_up(owner, mailbox, "plan-owner@example.com", household="Plan house")
    base = owner.url.removesuffix("/dashboard")

    # Free: one member of two, no CSV import, and the page says why.
    owner.goto(f"{base}/household")
    assert owner.inner_text("#plan-name") == "Free"
    assert gauge(owner, "members") == ("ok", "1 of 2")
    assert owner.locator("#plan meter[aria-label='Members']").get_attribute("max") == "2"
    assert "✗ CSV import" in owner.inner_text("#plan .features")
    owner.goto(f"{base}/readings")
    assert owner.locator("#import-readings input[type=file]").count() == 0
    assert "not part of the Free plan" in owner.inner_text("#import-locked")

    # A partner takes the last seat: the bar is full and a banner says so.
    owner.goto(f"{base}/household")
    owner.click("#invites button[type=submit]")
    code = owner.inner_text("#invite-code").strip()
    partner = new_page(browser, live_server)
    sign_up(partner, mailbox, "plan-partner@example.com", code=code)
    owner.goto(f"{base}/household")
    assert gauge(owner, "members") == ("full", "2 of 2")
    assert "limit is reached" in owner.inner_text("#plan .banner.full")
    owner.screenshot(path=str(screenshots / "plan-full.png"), full_page=True)

    # A third person is refused at the door, with the plan that would lift it.
    owner.click("#invites button[type=submit]")
    extra_code = owner.inner_text("#invite-code").strip()
    third = new_page(browser, live_server)
    third.goto("/signup")
    third.fill("input[name=email]", "plan-third@example.com")
    third.fill("input[name=password]", "correct horse battery")
    third.fill("input[name=invite_code]", extra_code)
    third.click("button[type=submit]")
    assert "This household is full" in third.content()  # said to the joiner, not sold a plan

    # Only the owner may change plan; the partner (a member) sees why.
    partner.goto(f"{base}/household")
    assert partner.locator("#change-plan").count() == 0
    assert "Only an owner can change the plan" in partner.inner_text("#plan")

    # The owner upgrades: six seats, CSV import appears, and an import works.
    owner.select_option("#change-plan select[name=plan]", "household")
    owner.click("#change-plan button[type=submit]")
    owner.wait_for_selector("text=Plan changed.")
    assert owner.inner_text("#plan-name") == "Household"
    assert gauge(owner, "members") == ("ok", "2 of 6")
    csv = tmp_path / "readings.csv"
    csv.write_text(CSV)
    owner.goto(f"{base}/readings")
    owner.set_input_files("#import-readings input[type=file]", str(csv))
    owner.click("#import-readings button[type=submit]")
    owner.wait_for_url(re.compile(r"/readings\?msg=imported$"))
    owner.goto(f"{base}/household")
    assert gauge(owner, "rows.readings")[1].startswith("2 of")

    # The refused invite was not spent: the third person joins now (3 of 6).
    sign_up(third, mailbox, "plan-third@example.com", code=extra_code)
    owner.goto(f"{base}/household")
    assert gauge(owner, "members") == ("ok", "3 of 6")

    # A downgrade to Free is refused, saying what must go first; the plan stays.
    owner.select_option("#change-plan select[name=plan]", "free")
    owner.click("#change-plan button[type=submit]")
    error = owner.inner_text("#plan-error")
    assert "Members: 3 in use, the plan allows 2: remove 1 first." in error
    assert owner.inner_text("#plan-name") == "Household"
    owner.screenshot(path=str(screenshots / "plan-downgrade-refused.png"), full_page=True)
