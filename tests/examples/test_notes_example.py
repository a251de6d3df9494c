"""The documented example app works as the docs say, including isolation."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from tests.support.mail import link_in, mailed, query_value

EXAMPLE = Path(__file__).parents[2] / "examples" / "notes.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("examples_notes", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["examples_notes"] = module
    spec.loader.exec_module(module)
    return module


def test_example_is_short_and_isolates_tenants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(EXAMPLE.read_text().splitlines()) < 60
    module = sys.modules.get("examples_notes") or _load()
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
        note_id = client.post("/notes", json={"body": "ann's"}, headers=tokens["ann"]).json()
        assert client.get("/notes", headers=tokens["ann"]).json() == ["ann's"]
        assert client.get("/notes", headers=tokens["ben"]).json() == []
        assert client.get(f"/notes/{note_id}", headers=tokens["ben"]).status_code == 404
    app.state.tenancy.db.dispose()
