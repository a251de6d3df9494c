"""No route that creates a quota-counted row bypasses the quota: every write route, walked.

The tenant is put at its limit for every quota (and its seats) through overrides;
then every POST/PUT/PATCH of the server is called with an example JSON body, a
form, and CSV uploads. Afterwards the tenant must hold exactly what it held.
Nothing names a route: a route added tomorrow is walked too.
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenantry.context import TenantContext, tenant_scope
from tenantry.ids import TenantId, UserId
from tenantry.models import Membership
from tenantry.plans import quota_of, set_override
from tenantry.plans.quotas import quota_models
from tenantry.roles import Role
from tenantry.testing import operations, quotas_switched_off
from tenantry_server.settings import Settings
from tests.conftest import Member, only_sqlite

READINGS = "read_at,meter_kwh\n2026-01-01T08:00:00Z,100\n2026-01-02T08:00:00Z,110\n"
VOUCHERS = "purchased_on,amount,currency,kwh\n2026-01-01,100.00,ZAR,50\n"
FORM = {
    "read_at": "2026-01-03T08:00",
    "meter_kwh": "120",
    "purchased_on": "2026-01-03",
    "amount": "10.00",
    "currency": "ZAR",
    "kwh": "5",
    "name": "walk",
}
SKIP = ("/plan", "/overrides")  # plan changes create no rows; a downgrade would end the walk


def _counts(app: FastAPI, tenant: TenantContext) -> dict[str, int]:
    db = app.state.tenancy.db
    with tenant_scope(tenant), db.sessions() as s:
        counts = {
            cls.__tablename__: s.scalar(select(func.count()).select_from(cls)) or 0
            for cls in quota_models()
        }
        counts["members"] = (
            s.scalar(
                select(func.count())
                .select_from(Membership)
                .where(Membership.tenant_id == tenant.tenant_id)
            )
            or 0
        )
    return counts


def _at_every_limit(app: FastAPI, tenant: TenantContext) -> None:
    """Pro (every feature), with every quota and the seats capped at the current use."""
    db = app.state.tenancy.db
    counts = _counts(app, tenant)
    with tenant_scope(tenant), db.session() as s:
        for cls in quota_models():
            limit = quota_of(cls)
            assert limit is not None
            set_override(
                s,
                tenant_id=tenant.tenant_id,
                name=limit,
                value=counts[cls.__tablename__],
                actor_id=None,
            )
        set_override(
            s, tenant_id=tenant.tenant_id, name="members", value=counts["members"], actor_id=None
        )


def _walk(client: TestClient, app: FastAPI, headers: dict[str, str]) -> list[str]:
    """Every write route with every kind of body; returns the answers that were 5xx."""
    failures = []
    missing = {"int": 2**52 + 7, "uuid": uuid.uuid4(), "str": "walk"}
    for op in operations(app):
        if op.method not in {"POST", "PUT", "PATCH"} or any(s in op.path for s in SKIP):
            continue
        path = op.path
        for name, kind in op.path_params.items():
            path = path.replace("{" + name + "}", str(missing[kind]))
        attempts = [
            {"json": op.body},
            {"data": FORM},
            {"content": READINGS, "headers": {"content-type": "text/csv"}},
            {"content": VOUCHERS, "headers": {"content-type": "text/csv"}},
            {"files": {"file": ("r.csv", READINGS, "text/csv")}},
            {"files": {"file": ("v.csv", VOUCHERS, "text/csv")}},
        ]
        for attempt in attempts:
            extra = attempt.pop("headers", {})
            response = client.request(
                op.method, path, headers={**headers, **extra}, follow_redirects=False, **attempt
            )
            if response.status_code >= 500:
                failures.append(f"{op.method} {op.path}: {response.status_code}")
    return failures


def _owner_context(alice: Member) -> TenantContext:
    return TenantContext(TenantId(uuid.UUID(alice.tenant_id)), UserId(alice.user_id), Role.OWNER)


def test_no_write_route_bypasses_a_quota(app: FastAPI, client: TestClient, alice: Member) -> None:
    tenant = _owner_context(alice)
    assert (
        client.put("/api/tenant/plan", json={"plan": "pro"}, headers=alice.headers).status_code
        == 200
    )
    _at_every_limit(app, tenant)
    before = _counts(app, tenant)
    assert len(before) >= 3  # readings, vouchers, members
    assert _walk(client, app, alice.headers) == []
    assert _counts(app, tenant) == before


@only_sqlite
def test_the_walk_finds_the_bypass_when_quotas_are_off(
    app: FastAPI, client: TestClient, alice: Member, settings: Settings
) -> None:
    """Proof that the walk can fail: with the hook off, the same walk does create rows."""
    tenant = _owner_context(alice)
    client.put("/api/tenant/plan", json={"plan": "pro"}, headers=alice.headers)
    _at_every_limit(app, tenant)
    before = _counts(app, tenant)
    with quotas_switched_off():
        _walk(client, app, alice.headers)
    after = _counts(app, tenant)
    grown = {t for t in before if t != "members" and after[t] > before[t]}
    # Every quota table the app's routes write grows (other apps' models, such as the
    # examples' that other tests import, have no routes here).
    assert {"readings", "vouchers"} <= grown <= {cls.__tablename__ for cls in quota_models()}
