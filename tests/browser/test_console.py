"""The operator console and the household audit trail in a real Chromium."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.steps import PASSWORD, new_page, sign_up
from tests.support.mail import SmtpServer

pytestmark = pytest.mark.browser


def sign_in(page: Any, email: str) -> None:
    page.goto("/signin")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/t/[a-z0-9-]+/dashboard$"))


def test_console_and_audit_trail(
    browser: Any, live_server: str, mailbox: SmtpServer, screenshots: Path
) -> None:
    from tenantry.platform_admins import set_platform_admin

    # A household owner records something; a stranger to the console gets a plain 404.
    owner = new_page(browser, live_server)
    sign_up(owner, mailbox, "dana@example.com", household="Dana's place")
    base = owner.url.removesuffix("/dashboard")
    response = owner.goto("/console")
    assert response.status == 404 and "Not found" in owner.content()

    # Her audit trail: sign-up events are there, filters and the CSV work.
    owner.goto(f"{base}/household")
    owner.click("#open-audit")
    owner.wait_for_selector("#audit-events")
    assert "tenant.created" in owner.inner_text("#audit-events")
    owner.select_option("select[name=action]", "member")
    owner.click("#audit-filter button[type=submit]")
    owner.wait_for_url(re.compile(r"action=member"))
    assert "tenant.created" not in owner.inner_text("#audit-events")
    with owner.expect_download() as download:
        owner.click("#audit-csv")
    assert download.value.suggested_filename.startswith("audit-")
    owner.screenshot(path=str(screenshots / "household-audit.png"), full_page=True)

    # An operator: made a platform admin, signs in and opens the console.
    ops = new_page(browser, live_server)
    sign_up(ops, mailbox, "operator@example.com", household="Ops desk")
    from tests.browser.conftest import LIVE_APPS

    with LIVE_APPS[live_server].state.tenancy.db.session() as session:
        set_platform_admin(session, email="operator@example.com", grant=True)
    ops.goto("/console")
    ops.wait_for_selector("#tenants")
    ops.fill("input[name=q]", "dana")
    ops.click("form[role=search] button[type=submit]")
    row = ops.locator("tr[data-slug^=dana]")
    row.wait_for()  # count() does not wait: once, in CI, it read the page before it loaded
    assert row.count() == 1
    ops.screenshot(path=str(screenshots / "console-tenants.png"), full_page=True)
    row.locator("a").click()
    ops.wait_for_selector("#actions")
    assert "dana@example.com" in ops.inner_text("#members")

    # Suspend (confirmed), and the owner is refused; reactivate, and she is back.
    ops.once("dialog", lambda dialog: dialog.accept())
    ops.click("#suspend")
    ops.wait_for_selector("text=Tenant suspended")
    assert owner.goto(f"{base}/dashboard").status == 403
    ops.click("#reactivate")
    ops.wait_for_selector("text=Tenant reactivated.")
    assert owner.goto(f"{base}/dashboard").status == 200
    ops.select_option("select[name=plan]", "pro")
    ops.click("#change-plan")
    ops.wait_for_selector("text=Plan changed.")
    assert "platform.plan_changed" in ops.inner_text("#audit")
    assert ops.inner_text("#stat-plan strong") == "pro"

    # Deletion needs the typed slug.
    slug = base.rsplit("/", 1)[1]
    ops.fill("input[name=confirm]", "wrong")
    ops.click("#delete")
    ops.wait_for_selector("text=to confirm deletion")
    ops.screenshot(path=str(screenshots / "console-tenant.png"), full_page=True)
    ops.fill("input[name=confirm]", slug)
    ops.click("#delete")
    ops.wait_for_selector("text=Tenant deleted.")
    # Soft deletion: the operator still sees the tenant, marked deleted, until the purge.
    assert "deleted" in ops.inner_text("tr[data-slug^=dana]")
    assert owner.goto(f"{base}/dashboard").status in (403, 404, 410)

    # Database health and the doctor.
    ops.click("text=Database")
    ops.wait_for_selector("#slowest")
    assert "at head" in ops.inner_text("#stat-migrations")
    ops.click("#run-doctor")
    ops.wait_for_selector("#doctor-result")
    ops.screenshot(path=str(screenshots / "console-database.png"), full_page=True)
