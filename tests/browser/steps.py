"""Steps the browser tests share: a page in a fresh context, sign-up confirmed from the mail."""

from __future__ import annotations

import re
from typing import Any

from tests.support.mail import SmtpServer, link_in

PASSWORD = "correct horse battery"
ZONE = "Africa/Johannesburg"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
DASHBOARD = re.compile(r"/t/[a-z0-9-]+/dashboard$")


def new_page(browser: Any, base: str, viewport: dict[str, int] = DESKTOP) -> Any:
    context = browser.new_context(
        base_url=base, viewport=viewport, timezone_id=ZONE, accept_downloads=True
    )
    context.set_default_timeout(10_000)
    return context.new_page()


def fill_sign_up(page: Any, email: str, *, code: str = "", household: str = "") -> None:
    """Fill and send the sign-up form (already open); the page says to check the inbox."""
    page.fill("input[name=email]", email)
    page.fill("input[name=display_name]", email.split("@")[0].title())
    page.fill("input[name=password]", PASSWORD)
    if code:
        page.fill("input[name=invite_code]", code)
    if household:
        page.fill("input[name=tenant_name]", household)
    page.click("form[action='/signup'] button[type=submit]")
    page.wait_for_selector("#sent, .error, #error-message")
    if not page.locator("#sent").count():
        raise AssertionError(f"sign-up refused: {page.inner_text('main')}")
    assert "Check your inbox" in page.inner_text("#sent")


def confirm_from_mail(page: Any, mailbox: SmtpServer, email: str) -> None:
    """Open the welcome mail's link as a person would, and press the button."""
    link = link_in(mailbox.wait_for(email, "welcome"), "/verify-email")
    page.goto(link)
    page.click("#verify-email button[type=submit]")
    page.wait_for_url(DASHBOARD)


def sign_up(
    page: Any, mailbox: SmtpServer, email: str, *, code: str = "", household: str = ""
) -> None:
    page.goto("/signup")
    fill_sign_up(page, email, code=code, household=household)
    confirm_from_mail(page, mailbox, email)
