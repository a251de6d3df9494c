"""Accounts in a real Chromium: sign-up confirmed by mail, an invitation by email accepted,
and a forgotten password reset, after which the old session is dead."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.steps import PASSWORD, confirm_from_mail, fill_sign_up, new_page
from tests.support.mail import SmtpServer, link_in, text_of

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a fresh password 42"


def test_invite_by_email_and_reset_a_forgotten_password(
    browser: Any, live_server: str, mailbox: SmtpServer, screenshots: Path
) -> None:
    shot = lambda page, name: page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)  # noqa: E731

    # 1. Olga signs up; the page only says to check the inbox; the mailed link signs her in.
    olga = new_page(browser, live_server)
    olga.goto("/signup")
    fill_sign_up(olga, "olga@example.com", household="Olga's house")
    shot(olga, "signup-sent")
    confirm_from_mail(olga, mailbox, "olga@example.com")
    base = olga.url.removesuffix("/dashboard")
    assert "Olga's house" in olga.inner_text("#household-switcher")

    # 2. She invites Pavel by email from the household page.
    olga.goto(f"{base}/household")
    olga.fill("#invites input[name=email]", "pavel@example.com")
    olga.click("#invites button[type=submit]")
    code = olga.inner_text("#invite-code").strip()
    invitation = mailbox.wait_for("pavel@example.com", "invitation")
    assert code in text_of(invitation)

    # 3. Pavel follows the link, sees who invites him where, signs up with the code filled in.
    pavel = new_page(browser, live_server)
    pavel.goto(link_in(invitation, "/invite"))
    assert "Olga's house" in pavel.inner_text("#invite")
    shot(pavel, "invite")
    pavel.click("#invite-signup")
    assert pavel.input_value("input[name=invite_code]") == code
    fill_sign_up(pavel, "pavel@example.com")
    confirm_from_mail(pavel, mailbox, "pavel@example.com")
    assert pavel.url == f"{base}/dashboard"
    assert "Olga's house" in pavel.inner_text("#household-switcher")
    # Olga, the owner, is told.
    assert "pavel@example.com" in text_of(mailbox.wait_for("olga@example.com", "member_joined"))

    # 4. Olga forgets her password; in another browser she resets it from the mail.
    elsewhere = new_page(browser, live_server)
    elsewhere.goto("/signin")
    elsewhere.click("text=Forgot your password?")
    elsewhere.fill("#forgot-password input[name=email]", "olga@example.com")
    elsewhere.click("#forgot-password button[type=submit]")
    elsewhere.wait_for_selector("#sent")
    elsewhere.goto(
        link_in(mailbox.wait_for("olga@example.com", "password_reset"), "/reset-password")
    )
    elsewhere.fill("#reset-password input[name=password]", NEW_PASSWORD)
    elsewhere.click("#reset-password button[type=submit]")
    elsewhere.wait_for_url(re.compile(r"/signin\?msg=reset$"))
    assert "signed out" in elsewhere.inner_text("main")
    shot(elsewhere, "after-reset")

    # 5. The first browser's session is dead: its next page asks to sign in.
    olga.goto(f"{base}/dashboard")
    olga.wait_for_url(re.compile(r"/signin"))
    # The old password no longer works; the new one does.
    olga.fill("input[name=email]", "olga@example.com")
    olga.fill("input[name=password]", PASSWORD)
    olga.click("form[action='/signin'] button[type=submit]")
    assert "wrong email or password" in olga.inner_text(".error")
    olga.fill("input[name=email]", "olga@example.com")
    olga.fill("input[name=password]", NEW_PASSWORD)
    olga.click("form[action='/signin'] button[type=submit]")
    olga.wait_for_url(re.compile(r"/dashboard$"))
    assert olga.url == f"{base}/dashboard"

    # 6. Signing up again with her address changes nothing, and says so by mail only.
    again = new_page(browser, live_server)
    sign_up_page = again.goto("/signup")
    assert sign_up_page.status == 200
    fill_sign_up(again, "olga@example.com")
    assert "already have an account" in text_of(
        mailbox.wait_for("olga@example.com", "already_registered")
    )
    for page in (olga, pavel, elsewhere, again):
        page.context.close()
