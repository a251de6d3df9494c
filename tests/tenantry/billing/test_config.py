"""Billing's configuration: the price map, the trial plan, the server settings that switch it on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from meterbook.plans import CATALOGUE
from tenantry.billing import BillingConfig, BillingView, parse_prices
from tenantry.plans import CatalogueError
from tenantry_server.settings import Settings


def test_prices_parse_and_a_malformed_entry_is_named() -> None:
    assert parse_prices(" household=price_1, pro=price_2 ,") == {
        "household": "price_1",
        "pro": "price_2",
    }
    with pytest.raises(ValueError, match="'pro': write plan=price_id"):
        parse_prices("household=price_1,pro")


def test_the_price_map_must_name_catalogue_plans() -> None:
    with pytest.raises(CatalogueError, match="'gold' is not a plan"):
        BillingConfig("sk", "whsec", prices={"gold": "price_1"}).check(CATALOGUE)
    with pytest.raises(CatalogueError, match="trial plan 'pro' has no price"):
        BillingConfig("sk", "whsec", prices={"household": "p"}, trial_plan="pro").check(CATALOGUE)


def test_the_trial_plan_is_the_first_priced_plan_with_trial_days_unless_named() -> None:
    prices = {"household": "p1", "pro": "p2"}
    assert BillingConfig("sk", "w", prices=prices).trial_of(CATALOGUE).name == "household"  # type: ignore[union-attr]
    assert BillingConfig("sk", "w", prices=prices, trial_plan="").trial_of(CATALOGUE) is None
    assert BillingConfig("sk", "w", prices={"pro": "p2"}).trial_of(CATALOGUE) is None
    config = BillingConfig("sk", "w", prices=prices)
    assert config.plan_of_price("p2") == "pro" and config.plan_of_price("p9") is None


def test_settings_switch_billing_on_only_with_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "TENANTRY_STRIPE_PRICES"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().billing_config() is None
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_x")
    with pytest.raises(ValidationError, match="set STRIPE_WEBHOOK_SECRET too"):
        Settings()
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_x")
    monkeypatch.setenv("TENANTRY_STRIPE_PRICES", "household")
    with pytest.raises(ValidationError, match="write plan=price_id"):
        Settings()
    monkeypatch.setenv("TENANTRY_STRIPE_PRICES", "household=price_h")
    monkeypatch.setenv("TENANTRY_BILLING_GRACE_DAYS", "3")
    config = Settings().billing_config()
    assert config is not None
    assert config.prices == {"household": "price_h"} and config.grace == timedelta(days=3)


def test_trial_days_left_counts_a_started_day_as_a_day() -> None:
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)

    def view(ends: datetime | None) -> BillingView:
        return BillingView("household", "trialing", True, ends, None, False, None)

    assert view(now + timedelta(days=14)).trial_days_left(now) == 14
    assert view(now + timedelta(days=13, hours=1)).trial_days_left(now) == 14
    assert view(now + timedelta(hours=1)).trial_days_left(now) == 1
    assert view(now - timedelta(hours=1)).trial_days_left(now) == 0
    assert view(None).trial_days_left(now) is None
