"""The tenantry server runs on a converted electricity database; a migrated user signs in
with their old password and sees exactly their own readings and vouchers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from tenantry.db import Database
from tenantry.migrate import conversion_engine
from tenantry.migrate.samples import PASSWORD
from tenantry.models import Base
from tenantry_server.app import create_app, default_plugins, migrate
from tenantry_server.settings import Settings
from tests.migrate.test_apply import convert


def test_migrated_user_signs_in_and_sees_exactly_their_data(
    sqlite_sample: Callable[..., str], tmp_path: Path
) -> None:
    url = sqlite_sample("electricity")
    engine = conversion_engine(url)
    with engine.connect() as conn:
        expected = {
            table: sorted(
                conn.exec_driver_sql(f"SELECT id FROM {table} WHERE user_id = 4").scalars().all()
            )
            for table in ("readings", "vouchers")
        }
        email = conn.exec_driver_sql("SELECT email FROM users WHERE id = 4").scalar()
    convert(engine, "electricity", tmp_path / "backup.sqlite")
    engine.dispose()

    settings = Settings(database_url=url, data_dir=tmp_path, secret_key="s" * 64)
    migrate(settings, default_plugins())  # meterbook adopts readings and vouchers
    # The suite's own test models (notes app) are mapped in this process, and the export
    # walks every mapped tenant table: give them their (empty) tables, as tests/conftest does.
    db = Database(url)
    Base.metadata.create_all(db.engine)
    db.dispose()
    app = create_app(settings, default_plugins())
    with TestClient(app) as client:
        wrong = client.post("/api/auth/login", json={"email": email, "password": "nope"})
        assert wrong.status_code == 401
        login = client.post(
            "/api/auth/login", json={"email": f"  {email.upper()} ", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        me = client.get("/api/me", headers=headers).json()
        assert me["id"] == 4
        export = client.get("/api/export", headers=headers)
        assert export.status_code == 200, export.text
    app.state.tenancy.db.dispose()
    document = json.loads(export.content)
    assert document["tenant"]["name"] == "Łukasz Żółć's home"
    for table, ids in expected.items():
        rows = document["tables"][table]
        assert sorted(r["id"] for r in rows) == ids
        assert {r["created_by"] for r in rows} == {4}
