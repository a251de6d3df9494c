from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tenantry.migrate import MappingError, load_mapping, parse_mapping
from tenantry.migrate.mapping import ProblemKind, Reference, check_references
from tenantry.migrate.samples import APPS, example_mapping

BASE: dict[str, Any] = {
    "users": {"table": "users", "email": "email"},
    "tables": {
        "vouchers": {"owner": "user_id"},
        "logs": {"owner": "workflow_id -> workflows", "references": ["zone_id -> workflows.id"]},
        "workflows": {"owner": "user_id"},
        "zones": {"global": True},
    },
}


def test_owner_forms() -> None:
    mapping = parse_mapping(BASE)
    assert mapping.tables["vouchers"].owner == Reference("user_id", "users")
    assert mapping.tables["logs"].owner == Reference("workflow_id", "workflows")
    assert mapping.tables["logs"].references == (Reference("zone_id", "workflows", "id"),)
    assert mapping.tables["zones"].is_global
    assert mapping.policy(ProblemKind.ORPHAN).fails  # the default is to stop


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tables": {"x": {}}}, "say how a row finds its owner"),
        ({"tables": {"x": {"owner": "a; drop"}}}, "not a plain"),
        ({"tables": {"x": {"global": True, "owner": "u"}}}, "global table has no owner"),
        ({"policies": {"orphan": "drop"}}, "allowed: assign, fail"),
        ({"policies": {"orphan": "assign:nobody"}}, "declare [extra_tenants.nobody]"),
        ({"policies": {"typo": "fail"}}, "unknown problem class"),
        ({"tenants": {"name": "{nickname}"}}, "unknown field"),
        (
            {"extra_tenants": {"spare": {"kind": "club"}}},
            "[extra_tenants.spare] kind must be personal, family or business",
        ),
        ({"tenants": {"single": "yes"}}, "[tenants] single must be true or false"),
        ({"tenants": {"owner": "a@x.com"}}, "[tenants] owner and role go with single = true"),
        (
            {"tenants": {"single": True, "role": "owner"}},
            "role must be one of viewer, member, admin",
        ),
        ({"tenants": {"single": True, "owner": "ann"}}, "owner must be the email of a user"),
        ({"surprise": 1}, "unknown key"),
        ({"users": {"table": "users"}}, "[users] email is required"),
        ({"users": {"email": "email"}}, "[users] table is required"),
        (
            {"users": {**BASE["users"], "email_overrides": {"1": "notanemail"}}},
            '[users.email_overrides] "1" = "notanemail": not an email address; write "<user',
        ),
        (
            {"users": {**BASE["users"], "email_overrides": {"ann": "a@x.com"}}},
            '[users.email_overrides] "ann" = "a@x.com": not a user id; write',
        ),
    ],
)
def test_bad_mappings_are_explained(change: dict[str, Any], message: str) -> None:
    with pytest.raises(MappingError, match=None) as info:
        parse_mapping({**BASE, **change})
    assert message in info.value.message


def test_a_reference_to_an_undeclared_table_is_found_once_the_tables_are() -> None:
    mapping = parse_mapping({**BASE, "tables": {"x": {"owner": "a -> nowhere"}}})
    with pytest.raises(MappingError, match=r"\[tables.x\]: a -> nowhere names an undeclared"):
        check_references(mapping)


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "m.toml"
    bad.write_text("[users\n")
    with pytest.raises(MappingError, match="not valid TOML"):
        load_mapping(bad)
    with pytest.raises(MappingError, match="not found"):
        load_mapping(tmp_path / "missing.toml")


@pytest.mark.parametrize("app", sorted(APPS))
def test_every_example_mapping_loads(app: str) -> None:
    assert load_mapping(example_mapping(app)).owned


def test_an_extra_tenants_default_kind_leaves_the_fingerprint_as_it_was() -> None:
    """A run recorded before extra tenants had a kind must still match its mapping."""
    extra = {"extra_tenants": {"spare": {"name": "Spare"}}}
    said = {"extra_tenants": {"spare": {"name": "Spare", "kind": "business"}}}
    other = {"extra_tenants": {"spare": {"name": "Spare", "kind": "family"}}}
    assert (
        parse_mapping({**BASE, **extra}).fingerprint()
        == parse_mapping({**BASE, **said}).fingerprint()
    )
    assert (
        parse_mapping({**BASE, **other}).fingerprint()
        != parse_mapping({**BASE, **extra}).fingerprint()
    )


def test_a_tenants_plan_is_read_and_its_default_leaves_recorded_fingerprints_alone() -> None:
    """From a stranger's CRM whose catalogue has no 'free': every converted tenant was put
    on 'free', which the catalogue quietly read as its default plan."""
    assert parse_mapping(BASE).tenant_plan == "free"
    starter = parse_mapping({**BASE, "tenants": {"plan": "starter"}})
    assert starter.tenant_plan == "starter"
    # As computed before [tenants] plan existed (commit dbdb196): recorded runs still match.
    assert parse_mapping(BASE).fingerprint() == "f006603f898e1abd"
    family = parse_mapping({**BASE, "tenants": {"kind": "family", "plan": "free"}})
    assert family.fingerprint() == "ae992c42215e83dc"
    assert starter.fingerprint() != parse_mapping(BASE).fingerprint()
    for bad in ("Starter Plan", "", 3, "x" * 33):
        with pytest.raises(MappingError) as info:
            parse_mapping({**BASE, "tenants": {"plan": bad}})
        assert "[tenants] plan must name a plan of your catalogue" in info.value.message
