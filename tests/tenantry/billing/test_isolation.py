"""The cross-tenant route walk with billing on: switching billing on opens no way across.

Billing's own routes take no ids (the walk attacks ids); test_lifecycle aims them at
another tenant by header.
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tenantry.context import TenantContext
from tenantry.ids import TenantId, UserId
from tenantry.roles import Role
from tenantry.testing import collect_victim, seed_every_table
from tests.conftest import Member, only_sqlite
from tests.isolation.test_route_walk import export_of, walk


@only_sqlite
def test_second_tenant_cannot_reach_the_first_with_billing_on(
    app: FastAPI, client: TestClient, alice: Member, bob: Member
) -> None:
    assert client.get("/api/tenant/billing", headers=alice.headers).status_code == 200
    ctx = TenantContext(TenantId(uuid.UUID(alice.tenant_id)), UserId(alice.user_id), Role.OWNER)
    seed_every_table(app.state.tenancy.db, ctx, marker="VICTIM-BILLING")
    victim = collect_victim(
        app.state.tenancy.db, uuid.UUID(alice.tenant_id), markers=["VICTIM-BILLING"]
    )
    app.state.tenancy.billing.provisioner.wait_idle()
    before = export_of(client, alice)
    billing_before = client.get("/api/tenant/billing", headers=alice.headers).json()
    app.state.tenancy.limits.enabled = False
    assert walk(client, app, bob, victim) == []
    assert export_of(client, alice) == before
    assert client.get("/api/tenant/billing", headers=alice.headers).json() == billing_before
