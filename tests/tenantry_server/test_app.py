"""The server app as a host's test suite uses it: made, used and dropped, many times."""

from __future__ import annotations

import gc
import weakref

from fastapi.testclient import TestClient

from tenantry.testing import register
from tenantry_server.app import create_app
from tenantry_server.settings import Settings
from tests.conftest import FAST_PASSWORDS


def test_an_app_made_used_and_dropped_is_freed_with_its_database(settings: Settings) -> None:
    app = create_app(settings, passwords=FAST_PASSWORDS)
    with TestClient(app) as client:
        alice = register(client, "alice@example.com")  # commits: mail, audit, cache, jobs
        assert client.get("/api/tenant", headers=alice.headers).status_code == 200
    tenancy = weakref.ref(app.state.tenancy)
    database = weakref.ref(app.state.tenancy.db)
    app.state.tenancy.db.dispose()
    del app, client, alice
    gc.collect()
    # Each app made in a process stayed in it (~0.9 MB), every hook and job of it alive.
    assert tenancy() is None
    assert database() is None
