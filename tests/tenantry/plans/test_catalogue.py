"""The plan catalogue: validated from Python objects or TOML, errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

import meterbook.models  # noqa: F401  (counts rows.readings and rows.vouchers)
from meterbook.plans import CATALOGUE as METERBOOK
from tenantry.plans import (
    DEFAULT_CATALOGUE,
    MEMBERS,
    Catalogue,
    CatalogueError,
    Plan,
    check_row_limits,
    entitlements_for,
    load_catalogue,
    rows_limit,
)

TOML = """
default = "basic"

[[plans]]
name = "basic"
display_name = "Basic"
features = ["export"]
[plans.limits]
members = 3
"rows.notes" = 100
history_days = 30

[[plans]]
name = "team"
trial_days = 14
features = ["export", "sso"]
[plans.limits]
members = 20
"rows.notes" = "unlimited"
"""


def test_a_toml_catalogue_loads(tmp_path: Path) -> None:
    path = tmp_path / "plans.toml"
    path.write_text(TOML)
    catalogue = load_catalogue(path)
    assert catalogue.names == ["basic", "team"]
    assert catalogue.default == "basic"
    basic, team = catalogue.plans
    assert basic.limit(MEMBERS) == 3 and basic.limit("history_days") == 30
    assert team.limit(rows_limit("notes")) is None  # "unlimited"
    assert team.limit("storage_bytes") is None  # absent: unlimited
    assert team.display_name == "Team" and team.trial_days == 14
    assert catalogue.lifting(MEMBERS, 4) is team
    assert catalogue.lifting(MEMBERS, 21) is None
    assert catalogue.with_feature("sso") is team


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[plans]]\nname = 'a'\n[plans.limits]\nmembers = -1", "plans[0] (a).limits: members"),
        ("[[plans]]\nname = 'a'\n[plans.limits]\nmembers = 'many'", "plans[0] (a).limits.members"),
        ("[[plans]]\nname = 'Bad Name'", "plans[0] (Bad Name).name"),
        ("[[plans]]\nname = 'a'\ncolour = 'red'", "plans[0] (a).colour"),
        ("[[plans]]\nname = 'a'\n[[plans]]\nname = 'a'", "plan names must be unique: a"),
        ("default = 'b'\n[[plans]]\nname = 'a'", "'b' is not one of the plans"),
        ("plans = []", "plans"),
        ("[[plans]\nname = 'a'", "not valid TOML"),
        ("[[plans]]\nname = 'a'\nfeatures = ['CSV Import']", "plans[0] (a).features"),
        # Strict numbers, as for an override: a flag or a fraction is a mistake, not 1 or 5.
        ("[[plans]]\nname = 'a'\n[plans.limits]\nmembers = true", "plans[0] (a).limits.members"),
        ("[[plans]]\nname = 'a'\n[plans.limits]\nmembers = 5.0", "plans[0] (a).limits.members"),
        ("[[plans]]\nname = 'a'\n[plans.limits]\nx = 4611686018427387905", "x: at most"),
        ("[[plans]]\nname = 'a'\n[plans.limits]\nrequests_per_minute = 0", "at least 1"),
    ],
)
def test_a_bad_catalogue_names_the_file_and_the_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "plans.toml"
    path.write_text(text)
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(path)
    assert str(path) in str(raised.value)
    assert expected in str(raised.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(tmp_path / "absent.toml")


def test_python_objects_are_validated_too() -> None:
    with pytest.raises(CatalogueError, match=r"plans\[0\] \(solo\)\.limits: members"):
        Catalogue.of([{"name": "solo", "limits": {"members": 0}}])
    with pytest.raises(ValueError, match="members"):
        Plan(name="solo", limits={"members": 0})
    with pytest.raises(CatalogueError, match="trial_days"):
        Catalogue.of([{"name": "x", "trial_days": -1}])


def test_a_row_limit_no_model_counts_is_refused() -> None:
    check_row_limits(METERBOOK)  # meterbook's models count rows.readings and rows.vouchers
    typo = Catalogue.of([{"name": "home", "limits": {"rows.readngs": 3}}])
    with pytest.raises(CatalogueError) as raised:
        check_row_limits(typo)
    assert "plan 'home': limits.rows.readngs: no model counts" in str(raised.value)
    assert "rows.readings" in str(raised.value)  # what it may have meant


def test_overrides_apply_over_the_plan() -> None:
    ents = entitlements_for(
        METERBOOK,
        "free",
        [(MEMBERS, 4), ("rows.readings", None), ("feature:csv_import", 1)],
    )
    assert ents.plan.name == "free"
    assert ents.limit(MEMBERS) == 4
    assert ents.limit("rows.readings") is None
    assert ents.has("csv_import") and not ents.has("long_range_insights")
    taken = entitlements_for(METERBOOK, "pro", [("feature:csv_import", 0)])
    assert not taken.has("csv_import")


def test_a_plan_the_catalogue_dropped_falls_back_to_the_default() -> None:
    assert entitlements_for(METERBOOK, "retired-plan").plan.name == "free"


def test_the_shipped_catalogues() -> None:
    assert DEFAULT_CATALOGUE.default == "free"
    free, household, pro = METERBOOK.plans
    assert (free.limit(MEMBERS), household.limit(MEMBERS), pro.limit(MEMBERS)) == (2, 6, None)
    assert free.limit("history_days") == 365 and "csv_import" not in free.features
    assert "csv_import" in household.features and "csv_import" in pro.features
