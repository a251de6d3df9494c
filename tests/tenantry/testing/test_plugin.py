"""The shipped pytest plugin, used as an app's suite would use it (its fixtures, nothing else)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from tenantry.db import Database
from tenantry.models import Base
from tenantry.roles import Role
from tenantry.security.passwords import Passwords
from tenantry.testing import Member, scoping_switched_off
from tenantry.web import Tenancy, TenancyConfig
from tests.notes_app import router as notes_router


@pytest.fixture
def tenantry_app(
    tenantry_database_url: str, tenantry_config: TenancyConfig, tenantry_passwords: Passwords
) -> Iterator[FastAPI]:
    """A small app on the plugin's database, config and hasher (overrides the repo's server)."""
    db = Database(tenantry_database_url)
    Base.metadata.create_all(db.engine)  # the test models' tables (no migrations here)
    app = FastAPI()
    Tenancy(db, tenantry_config, passwords=tenantry_passwords).install(app)
    app.include_router(notes_router)
    yield app
    db.dispose()


def test_many_sign_ups_do_not_hit_the_rate_limit(
    tenantry_member: Callable[..., Member],
) -> None:
    owners = [tenantry_member() for _ in range(8)]
    assert len({o.tenant_id for o in owners}) == 8


@pytest.mark.parametrize("role", list(Role))
def test_members_of_any_role_in_any_tenant(
    tenantry_client: Any, tenantry_member: Callable[..., Member], role: Role
) -> None:
    owner = tenantry_member()
    other = tenantry_member()
    joined = tenantry_member(role, tenant=owner)
    assert joined.tenant_id == owner.tenant_id != other.tenant_id
    members = tenantry_client.get("/api/tenant/members", headers=joined.headers).json()
    roles = {m["user_id"]: m["role"] for m in members}
    assert roles[joined.user_id] == role.value


def test_a_member_who_may_not_invite_is_told_so(
    tenantry_member: Callable[..., Member],
) -> None:
    owner = tenantry_member()
    viewer = tenantry_member("viewer", tenant=owner)
    with pytest.raises(AssertionError, match=r"is a viewer and may not invite a member: pass an"):
        tenantry_member("member", tenant=viewer)


def test_an_app_that_rate_limits_sign_ups_is_told_how_to_build_it(
    tenantry_database_url: str, tenantry_config: TenancyConfig, tenantry_passwords: Passwords
) -> None:
    """An app built with its own config (rate limits on) instead of the plugin's."""
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from tenantry.testing import member_of

    db = Database(tenantry_database_url)
    app = FastAPI()
    config = replace(tenantry_config, rate_limits=True, register_rate="1/minute")
    Tenancy(db, config, passwords=tenantry_passwords).install(app)
    with TestClient(app) as client:
        member_of(client)
        with pytest.raises(AssertionError, match=r"rate-limited the test's sign-ups: build it"):
            member_of(client)
    db.dispose()


def test_invite_and_join(
    tenantry_client: Any,
    tenantry_member: Callable[..., Member],
    tenantry_invite_and_join: Callable[..., Member],
) -> None:
    owner = tenantry_member()
    viewer = tenantry_invite_and_join(owner, "viewer", "vera@example.test")
    assert viewer.email == "vera@example.test" and viewer.role is Role.VIEWER
    created = tenantry_client.post("/api/notes", json={"body": "x"}, headers=viewer.headers)
    assert created.status_code == 403


def test_a_new_tenant_needs_an_owner(tenantry_member: Callable[..., Member]) -> None:
    with pytest.raises(ValueError, match="owner"):
        tenantry_member("viewer")


def test_the_attack_finds_nothing_when_isolation_holds(
    tenantry_attack: Callable[[], list[str]],
) -> None:
    assert tenantry_attack() == []


def test_the_attack_reports_leaks_without_scoping(
    tenantry_attack: Callable[..., list[str]],
) -> None:
    # SQLite has no row-level security: with the ORM wall off, the attack must see A's data.
    findings = tenantry_attack(during=scoping_switched_off)
    assert any(f.startswith("GET /api/notes leaked") for f in findings), findings


def test_a_client_without_its_lifespan_is_told_how_to_open_it(tenantry_app: FastAPI) -> None:
    from fastapi.testclient import TestClient

    from tenantry.testing import register

    client = TestClient(tenantry_app)  # no `with`: the job service that sends mail never runs
    with pytest.raises(AssertionError, match="with TestClient"):
        register(client, "lifespanless@example.com")
