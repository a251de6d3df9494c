"""A form sent twice in a row (a double click, an impatient tap) is sent once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.steps import new_page, sign_up
from tests.support.mail import SmtpServer

pytestmark = pytest.mark.browser

_SEND_TWICE = """() => {
  const form = document.querySelector("#add-reading form");
  const seen = [];
  document.addEventListener("submit", (event) => seen.push(event.defaultPrevented));
  form.requestSubmit();
  form.requestSubmit();
  return seen;
}"""


def test_a_reading_form_sent_twice_adds_one_reading(
    browser: Any, live_server: str, mailbox: SmtpServer
) -> None:
    """Two posts with the session's CSRF token both passed and made two readings: the
    server cannot tell a repeated form from a second one, so the page sends it once."""
    page = new_page(browser, live_server)
    sign_up(page, mailbox, "dora@example.com")
    base = page.url.removesuffix("/dashboard")
    page.goto(f"{base}/readings")
    page.fill("#add-reading input[name=read_at]", "2026-11-01T07:30")
    page.fill("#add-reading input[name=meter_kwh]", "100")
    assert page.evaluate(_SEND_TWICE) == [False, True]  # the second one stopped
    page.wait_for_selector("text=Saved.")
    assert page.locator("#readings tbody tr").count() == 1
    # A form answered (the page after it) is sent again as usual.
    page.fill("#add-reading input[name=read_at]", "2026-11-02T07:30")
    page.fill("#add-reading input[name=meter_kwh]", "110")
    page.click("#add-reading button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#readings tbody tr').length === 2")
