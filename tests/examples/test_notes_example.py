"""The documented example app works as the docs say, including isolation."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from fastapi.testclient import TestClient

EXAMPLE = Path(__file__).parents[2] / "examples" / "notes.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("examples_notes", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["examples_notes"] = module
    spec.loader.exec_module(module)
    return module


def test_example_is_short_and_isolates_tenants(tmp_path: Path) -> None:
    assert len(EXAMPLE.read_text().splitlines()) < 60
    module = sys.modules.get("examples_notes") or _load()
    app = module.create_app(f"sqlite:///{tmp_path / 'ex.sqlite3'}", "k" * 64)
    with TestClient(app) as client:
        tokens = {}
        for who in ("ann", "ben"):
            r = client.post(
                "/api/auth/register",
                json={"email": f"{who}@example.com", "password": "long enough pw"},
            )
            tokens[who] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        note_id = client.post("/notes", json={"body": "ann's"}, headers=tokens["ann"]).json()
        assert client.get("/notes", headers=tokens["ann"]).json() == ["ann's"]
        assert client.get("/notes", headers=tokens["ben"]).json() == []
        assert client.get(f"/notes/{note_id}", headers=tokens["ben"]).status_code == 404
    app.state.tenancy.db.dispose()
