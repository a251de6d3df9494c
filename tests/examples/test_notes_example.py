"""The documented example app works as the docs say, including isolation."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.examples import EXAMPLES, load_example, signed_up

EXAMPLE = EXAMPLES / "notes.py"


def test_example_is_short_and_isolates_tenants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(EXAMPLE.read_text().splitlines()) < 60
    module = load_example("notes")
    monkeypatch.chdir(tmp_path)  # the example's mails go to ./var/outbox
    app = module.create_app(f"sqlite:///{tmp_path / 'ex.sqlite3'}", "k" * 64)
    with TestClient(app) as client:
        tokens = {who: signed_up(client, app, who) for who in ("ann", "ben")}
        note_id = client.post("/notes", json={"body": "ann's"}, headers=tokens["ann"]).json()
        assert client.get("/notes", headers=tokens["ann"]).json() == ["ann's"]
        assert client.get("/notes", headers=tokens["ben"]).json() == []
        assert client.get(f"/notes/{note_id}", headers=tokens["ben"]).status_code == 404
    app.state.tenancy.db.dispose()
