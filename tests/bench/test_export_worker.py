"""The export baseline writes the rows tenantry's export writes, so the ratio compares equals."""

from __future__ import annotations

import io
import sqlite3
import uuid
from pathlib import Path

import orjson
from bench.datagen import generate
from bench.export_worker import _bare

import meterbook.models  # noqa: F401  (registers the tenant tables)
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.export import stream_export
from tenantry.ids import TenantId, UserId
from tenantry.models import Base
from tenantry.roles import Role


def test_bare_export_rows_equal_tenantrys(tmp_path: Path) -> None:
    fx = generate(tmp_path / "t.db", 3, 300, focus_rows=100)
    tenant = fx.tenant_ids[0]
    with sqlite3.connect(fx.path) as con:
        con.executemany(
            "INSERT INTO vouchers (tenant_id, id, purchased_on, amount_minor, currency,"
            " energy_wh, token_number, vendor, notes, user_id, created_at)"
            " VALUES (?, ?, ?, ?, 'ZAR', ?, '1234', 'Vendor', ?, ?, '2024-01-02 03:04:05.000006')",
            [(tenant, i, f"2024-01-0{i}", 1000 * i, 5000 * i, f"n{i}", fx.user_ids[0])
             for i in (1, 2)] + [(fx.tenant_ids[1], 1, "2024-01-01", 7, 7, "other", None)],
        )  # fmt: skip
    ctx = TenantContext(TenantId(uuid.UUID(hex=tenant)), UserId(fx.user_ids[0]), Role.OWNER)
    db = Database(f"sqlite:///{fx.path}")
    Base.metadata.create_all(db.engine)  # other tests' tenant tables, empty
    try:
        with tenant_scope(ctx), db.read_sessions() as session:
            ours = orjson.loads(b"".join(stream_export(session, ctx.tenant_id)))["tables"]
    finally:
        db.dispose()
    sink = io.BytesIO()
    count = _bare(str(fx.path), tenant, sink)
    bare = orjson.loads(b"{" + sink.getvalue().replace(b']"', b'],"') + b"}")
    assert count == len(ours["readings"]) + 2 == 102
    assert bare == {"readings": ours["readings"], "vouchers": ours["vouchers"]}
    assert [v["notes"] for v in bare["vouchers"]] == ["n1", "n2"]
