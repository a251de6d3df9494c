"""A long CSV on the readings page is imported by a job; the page follows its progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from meterbook.services.import_jobs import BACKGROUND_LINES
from tenantry.models import Tenant
from tests.browser.conftest import LIVE_APPS
from tests.browser.test_household_journey import new_page, sign_up

pytestmark = pytest.mark.browser


def test_a_long_import_runs_in_the_background(
    browser: Any, live_server: str, screenshots: Path, tmp_path: Path
) -> None:
    page = new_page(browser, live_server)
    sign_up(page, "ingrid@example.com", household="Ingrid's flat")
    slug = page.url.split("/t/")[1].split("/")[0]
    with LIVE_APPS[live_server].state.tenancy.db.session() as session:
        session.execute(update(Tenant).where(Tenant.slug == slug).values(plan="household"))
    rows = BACKGROUND_LINES + 5
    start = datetime(2021, 1, 1, tzinfo=UTC)
    csv = tmp_path / "long.csv"
    csv.write_text(
        "read_at,meter_kwh\n"
        + "".join(f"{(start + timedelta(hours=i)).isoformat()},{i}\n" for i in range(rows))
    )
    page.goto(f"/t/{slug}/readings")
    page.set_input_files("#import-readings input[type=file]", str(csv))
    page.click("#import-readings button[type=submit]")
    page.wait_for_selector(f"text=Import finished: {rows} rows added.", timeout=30_000)
    page.screenshot(path=str(screenshots / "background-import.png"), full_page=True)
    assert "?import=" in page.url
