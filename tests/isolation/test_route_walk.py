"""The cross-tenant attack: every object route of the whole server, as a second tenant.

Nothing here names a route or a model: the route table and the tenant tables
are walked, so a route or a table added tomorrow is attacked too.
"""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tenantry.context import TenantContext
from tenantry.ids import TenantId, UserId
from tenantry.roles import Role
from tenantry.testing import (
    Victim,
    attack_routes,
    collect_victim,
    member_of,
    object_routes,
    scoping_switched_off,
    seed_every_table,
)
from tenantry_server.settings import Settings
from tests.conftest import Member, invite_and_join, only_postgresql, only_sqlite

MARKER = "VICTIM-SECRET-" + uuid.uuid4().hex[:8]
_WHEN = re.compile(rb'"exported_at":"[^"]*"')


def export_of(client: TestClient, member: Member) -> bytes:
    """The victim's export without its own timestamp: the data, to compare before and after."""
    return _WHEN.sub(b"", client.get("/api/export", headers=member.headers).content)


@pytest.fixture
def victim(app: FastAPI, client: TestClient, alice: Member, bob: Member) -> Victim:
    """Alice's tenant: a row in every tenant table, a second member, an open invite."""
    invite_and_join(client, alice, "alice-partner@example.com")
    client.post("/api/tenant/invites", json={"max_uses": 5}, headers=alice.headers)
    ctx = TenantContext(TenantId(uuid.UUID(alice.tenant_id)), UserId(alice.user_id), Role.OWNER)
    db = app.state.tenancy.db
    seed_every_table(db, ctx, marker=MARKER)
    seed_every_table(db, ctx, marker=MARKER)
    # Bob has data of his own, so "empty" answers cannot pass for isolation.
    bob_ctx = TenantContext(TenantId(uuid.UUID(bob.tenant_id)), UserId(bob.user_id), Role.OWNER)
    seed_every_table(db, bob_ctx, marker="bob-own-data")
    return collect_victim(db, uuid.UUID(alice.tenant_id), markers=[MARKER])


def walk(client: TestClient, app: FastAPI, attacker: Member, victim: Victim) -> list[str]:
    """The attack as ``attacker``; a new one goes on after a route that ends their session."""
    return attack_routes(
        client,
        app,
        attacker_headers=attacker.headers,
        victim=victim,
        new_attacker=lambda: member_of(client).headers,
    )


def test_the_walk_covers_object_routes(app: FastAPI, victim: Victim) -> None:
    assert len(object_routes(app)) >= 5
    assert len(victim.int_ids) >= 4 and victim.uuid_ids


def test_second_tenant_cannot_reach_the_first(
    app: FastAPI, client: TestClient, alice: Member, bob: Member, victim: Victim
) -> None:
    before = export_of(client, alice)
    app.state.tenancy.limits.enabled = False  # the walk tests isolation, not request budgets
    findings = walk(client, app, bob, victim)
    assert findings == []
    after = export_of(client, alice)
    assert after == before, "the attack changed the victim's data"


@only_sqlite
def test_the_attack_finds_leaks_when_scoping_is_off(
    app: FastAPI, client: TestClient, bob: Member, victim: Victim, settings: Settings
) -> None:
    """Proof that the suite can fail: with the ORM wall down, SQLite has no other wall."""
    app.state.tenancy.limits.enabled = False  # the walk tests isolation, not request budgets
    with scoping_switched_off():
        findings = walk(client, app, bob, victim)
    assert findings, "the isolation suite found nothing with scoping switched off"


@only_postgresql
def test_row_level_security_holds_when_scoping_is_off(
    app: FastAPI, client: TestClient, alice: Member, bob: Member, victim: Victim, settings: Settings
) -> None:
    """The second wall: with the ORM scoping off, PostgreSQL's RLS alone keeps tenants apart.

    The SQLite test above shows the same attack does find leaks without scoping,
    so an empty result here is RLS's doing, not a blind attack.
    """
    before = export_of(client, alice)
    app.state.tenancy.limits.enabled = False  # the walk tests isolation, not request budgets
    with scoping_switched_off():
        findings = walk(client, app, bob, victim)
    assert findings == []
    assert export_of(client, alice) == before
