"""The async example app works as its docstring says: async routes, relationships, isolation."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.examples import load_example, signed_up


def test_async_routes_keep_tenants_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_example("async_notes")
    monkeypatch.chdir(tmp_path)  # the example's mails go to ./var/outbox
    app = module.create_app(f"sqlite:///{tmp_path / 'ex.sqlite3'}", "k" * 64)
    with TestClient(app) as client:
        ann, ben = signed_up(client, app, "ann"), signed_up(client, app, "ben")
        book = client.post("/notebooks", json={"text": "Recipes"}, headers=ann).json()
        for text in ("bread", "soup"):
            added = client.post(f"/notebooks/{book}/pages", json={"text": text}, headers=ann)
            assert added.status_code == 201, added.text
        read = client.get(f"/notebooks/{book}", headers=ann)
        assert read.json() == {"title": "Recipes", "pages": ["bread", "soup"]}
        # Ben's own notebook gets the next id of his tenant; Ann's is out of his reach.
        assert client.get(f"/notebooks/{book}", headers=ben).status_code == 404
        stolen = client.post(f"/notebooks/{book}/pages", json={"text": "x"}, headers=ben)
        assert stolen.status_code == 404
        forged = client.post("/notebooks", json={"text": "x", "tenant_id": "t"}, headers=ben)
        assert forged.status_code == 422
        assert client.get(f"/notebooks/{book}", headers=ann).json()["pages"] == ["bread", "soup"]
    app.state.tenancy.db.dispose()
