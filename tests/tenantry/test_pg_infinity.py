"""PostgreSQL's ``infinity`` dates: what asyncpg writes for 9999-12-31, and what a legacy
table may hold as "no end", is read by the psycopg paths too (export, sync routes)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from tenantry.migrate.postgres_convert import relax_rls
from tenantry_server.settings import Settings
from tests.conftest import Member, only_postgresql


@only_postgresql
def test_a_tenant_holding_infinity_dates_is_still_exported(
    client: TestClient, alice: Member, settings: Settings
) -> None:
    """Found by a stranger's finance app: an async route stored 9999-12-31 (asyncpg writes
    ``infinity``), and the tenant's export answered 422 from then on: psycopg refused the
    value ("date too large"), and ``tenants export`` failed alike."""
    for day in ("2026-01-01", "2026-02-01"):
        voucher = {"purchased_on": day, "amount": "10", "kwh": "5"}
        added = client.post("/api/vouchers", json=voucher, headers=alice.headers)
        assert added.status_code == 201, added.text
    owner = create_engine(settings.migration_database_url or settings.database_url)
    with owner.begin() as conn:  # as asyncpg writes date.max and date.min
        relax_rls(conn, ["vouchers"])  # the owner sees every tenant's rows in here
        conn.exec_driver_sql(
            "UPDATE vouchers SET purchased_on = CASE WHEN purchased_on = '2026-01-01' "
            "THEN 'infinity'::date ELSE '-infinity'::date END"
        )
    owner.dispose()
    export = client.get("/api/export", headers=alice.headers)
    assert export.status_code == 200, export.text
    days = sorted(v["purchased_on"] for v in export.json()["tables"]["vouchers"])
    assert days == ["0001-01-01", "9999-12-31"]
    listed = client.get("/api/vouchers", headers=alice.headers)
    assert listed.status_code == 200, listed.text
    assert sorted(v["purchased_on"] for v in listed.json()["items"]) == days
