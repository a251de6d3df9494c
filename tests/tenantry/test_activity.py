"""Tenant activity: counts of several tenants and flushes add up, one statement per flush."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from sqlalchemy import delete

from tenantry.activity import ActivityCounter, activity_of
from tenantry.models import Tenant
from tests.conftest import Member


def test_flushes_add_up_per_tenant_and_skip_deleted_ones(
    app: FastAPI, alice: Member, bob: Member
) -> None:
    db = app.state.tenancy.db
    a, b, gone = uuid.UUID(alice.tenant_id), uuid.UUID(bob.tenant_id), uuid.uuid4()
    counter = ActivityCounter(interval=0)
    for tenant in (a, a, a, b, gone):
        counter.count(tenant)
    with db.session() as session:
        assert counter.flush(session) == 3
    for tenant in (a, a):
        counter.count(tenant)
    with db.session() as session:
        counter.flush(session)
    with db.session() as session:
        seen = activity_of(session, [a, b, gone])
    assert {k: v[0] for k, v in seen.items()} == {a: 5, b: 1}
    assert seen[a][1] is not None and seen[a][1] >= seen[b][1]  # type: ignore[operator]
    # A tenant deleted between counting and flushing: its count goes with it.
    counter.count(b)
    with db.session() as session:
        session.execute(delete(Tenant).where(Tenant.id == b))
    with db.session() as session:
        counter.flush(session)
        assert b not in activity_of(session, [b])
