"""The async example app works as its docstring says: async routes, relationships, isolation."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from tests.support.mail import link_in, mailed, query_value

EXAMPLE = Path(__file__).parents[2] / "examples" / "async_notes.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("examples_async_notes", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["examples_async_notes"] = module
    spec.loader.exec_module(module)
    return module


def test_async_routes_keep_tenants_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = sys.modules.get("examples_async_notes") or _load()
    monkeypatch.chdir(tmp_path)  # the example's mails go to ./var/outbox
    app = module.create_app(f"sqlite:///{tmp_path / 'ex.sqlite3'}", "k" * 64)
    with TestClient(app) as client:
        tokens = {}
        for who in ("ann", "ben"):
            email = f"{who}@example.com"
            client.post("/api/auth/register", json={"email": email, "password": "long enough pw"})
            link = link_in(mailed(app, email, "welcome"), "/verify-email")
            r = client.post("/api/auth/verify", json={"token": query_value(link, "token")})
            tokens[who] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        ann, ben = tokens["ann"], tokens["ben"]
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
