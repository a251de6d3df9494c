"""The household journey in a real Chromium: sign up, record, share, isolate, restrict, export."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.steps import DESKTOP, PHONE, ZONE, new_page, sign_up
from tests.support.mail import SmtpServer

pytestmark = pytest.mark.browser


@cache
def _anchor() -> datetime:
    """One "now" for the whole journey, so readings a day apart are exactly a day apart.

    Each reading is entered to the minute; taking "now" afresh per reading made the daily
    average 12.491 instead of 12.500 whenever a minute turned between two of them.
    """
    return datetime.now(ZoneInfo(ZONE)).replace(second=0, microsecond=0)


def local(days_ago: float) -> str:
    return (_anchor() - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M")


def add_reading(page: Any, days_ago: float, kwh: str) -> None:
    page.fill("#add-reading input[name=read_at]", local(days_ago))
    page.fill("#add-reading input[name=meter_kwh]", kwh)
    page.click("#add-reading button[type=submit]")
    page.wait_for_selector("text=Saved.")


def stat(page: Any, name: str) -> str:
    text: str = page.inner_text(f"#stat-{name} strong")
    return text.strip()


def test_household_journey(
    browser: Any, live_server: str, mailbox: SmtpServer, screenshots: Path
) -> None:
    shot = lambda page, name: page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)  # noqa: E731

    # 1. Alice signs up and starts a household.
    alice = new_page(browser, live_server)
    sign_up(alice, mailbox, "alice@example.com", household="Alice's flat")
    base = alice.url.removesuffix("/dashboard")
    assert "Alice's flat" in alice.inner_text("#household-switcher")
    assert stat(alice, "balance") == "0.000"

    # 2. A reading and a voucher change the dashboard.
    alice.goto(f"{base}/readings")
    add_reading(alice, 2, "100")
    add_reading(alice, 1, "112.5")
    refused = alice.locator("#add-reading")
    alice.fill("#add-reading input[name=read_at]", local(0.5))
    alice.fill("#add-reading input[name=meter_kwh]", "90")
    alice.click("#add-reading button[type=submit]")
    assert "lower than the previous reading" in refused.inner_text()
    assert "12.500" in alice.inner_text("#readings")
    shot(alice, "readings")
    alice.goto(f"{base}/vouchers")
    alice.fill("input[name=amount]", "500.00")
    alice.fill("input[name=kwh]", "172.5")
    alice.fill("input[name=token_number]", "1234 5678 9012 3456 7890")
    alice.fill("input[name=vendor]", "Corner shop")
    alice.click("#add-voucher button[type=submit]")
    alice.wait_for_selector("text=Saved.")
    assert "Corner shop" in alice.inner_text("#vouchers")
    shot(alice, "vouchers")
    alice.goto(f"{base}/dashboard")
    assert stat(alice, "consumed") == "12.500"
    assert stat(alice, "balance") == "160.000"
    assert stat(alice, "daily") == "12.500"
    assert stat(alice, "days") == "12.8"
    assert stat(alice, "price") == "2.90"
    assert alice.locator("#chart rect.bar").count() >= 12
    shot(alice, "dashboard")

    # 3. Alice generates an invite; Bob, in a separate context, joins and sees the same data.
    alice.goto(f"{base}/household")
    alice.click("#invites button[type=submit]")
    code = alice.inner_text("#invite-code").strip()
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){7}", code)
    shot(alice, "household")
    bob = new_page(browser, live_server)
    sign_up(bob, mailbox, "bob@example.com", code=code)
    assert bob.url == f"{base}/dashboard"
    assert stat(bob, "balance") == "160.000"
    bob.goto(f"{base}/readings")
    assert "112.500" in bob.inner_text("#readings")

    # 4. Carol, in another household, sees none of it, even with Alice's URLs.
    carol = new_page(browser, live_server)
    sign_up(carol, mailbox, "carol@example.com")
    assert stat(carol, "balance") == "0.000"
    carol_base = carol.url.removesuffix("/dashboard")
    carol.goto(f"{carol_base}/readings")
    assert "No readings" in carol.inner_text("#readings")
    response = carol.goto(f"{base}/readings")
    assert response.status == 404
    assert "112.500" not in carol.content()
    reading_id = re.search(r"/readings/(\d+)/edit", alice_html(alice, f"{base}/readings"))
    assert reading_id
    response = carol.goto(f"{carol_base}/readings/{reading_id.group(1)}/edit")
    assert response.status == 404
    shot(carol, "error-404")

    # 5. A viewer sees no edit controls, and a forged form post is refused.
    # Free has two seats (Alice and Bob): Alice moves to Household for a third.
    alice.goto(f"{base}/household")
    alice.select_option("#change-plan select[name=plan]", "household")
    alice.click("#change-plan button[type=submit]")
    alice.wait_for_selector("text=Plan changed.")
    # On a phone no page scrolls sideways (the CSV import's column line once did).
    alice.set_viewport_size(PHONE)
    for path in ("/readings", "/vouchers", "/household", "/dashboard", "/account"):
        alice.goto(f"{base}{path}")
        wide = alice.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0, f"{path} is {wide}px wider than a phone"
    alice.set_viewport_size(DESKTOP)
    alice.goto(f"{base}/household")
    alice.select_option("#invites select[name=role]", "viewer")
    alice.click("#invites button[type=submit]")
    viewer_code = alice.inner_text("#invite-code").strip()
    vera = new_page(browser, live_server, PHONE)
    sign_up(vera, mailbox, "vera@example.com", code=viewer_code)
    shot(vera, "dashboard-phone")
    vera.goto(f"{base}/readings")
    assert vera.locator("#add-reading").count() == 0
    assert vera.locator("#import-readings").count() == 0
    assert vera.locator("text=Edit").count() == 0
    assert vera.locator("form[action$='/delete']").count() == 0
    vera.goto(f"{base}/household")
    assert vera.locator("#invites").count() == 0
    assert vera.locator("#members select").count() == 0
    # A form built in the page with the viewer's own valid CSRF token: the role check refuses it.
    token = vera.get_attribute("#leave input[name=csrf_token]", "value")
    vera.evaluate(
        """([action, token]) => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = action;
            for (const [name, value] of [['csrf_token', token], ['read_at', '2024-01-01T07:00'],
                                         ['meter_kwh', '1']]) {
                const input = document.createElement('input');
                input.name = name; input.value = value; form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
        }""",
        [f"{base}/readings", token],
    )
    vera.wait_for_selector("#error-message")
    assert "member role" in vera.inner_text("#error-message")
    shot(vera, "error-403-phone")
    # A post from elsewhere carries no token: refused before anything else.
    forged = bob.request.post(
        f"{base}/readings", form={"read_at": "2024-01-01T07:00", "meter_kwh": "1"}
    )
    assert forged.status == 403
    bob.goto(f"{base}/readings")
    assert bob.locator("#readings tbody tr").count() == 2

    # 6. Export downloads a file holding the household's data.
    alice.goto(f"{base}/household")
    with alice.expect_download() as download_info:
        alice.click("#export-all")
    path = download_info.value.path()
    document = json.loads(Path(path).read_text())
    assert document["tenant"]["name"] == "Alice's flat"
    meters = sorted(r["meter_wh"] for r in document["tables"]["readings"])
    assert meters == [100_000, 112_500]
    assert [v["vendor"] for v in document["tables"]["vouchers"]] == ["Corner shop"]
    assert {m["email"] for m in document["members"]} == {
        "alice@example.com",
        "bob@example.com",
        "vera@example.com",
    }

    # 7. Another household of her own appears in the switcher.
    alice.goto("/households/new")
    alice.fill("input[name=name]", "Holiday cottage")
    alice.click("button[type=submit]")
    alice.wait_for_url(re.compile(r"/t/holiday-cottage[a-z0-9-]*/dashboard$"))
    alice.click("#household-switcher")
    alice.click("text=Alice's flat")
    alice.wait_for_url(f"{base}/dashboard")
    assert stat(alice, "balance") == "160.000"
    for page in (alice, bob, carol, vera):
        page.context.close()


def alice_html(page: Any, url: str) -> str:
    page.goto(url)
    html: str = page.content()
    return html
