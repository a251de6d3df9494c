"""The plans example of docs/plans.md works as the docs say."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.examples import load_example, signed_up


def test_the_example_enforces_its_catalogue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load_example("plans")
    monkeypatch.chdir(tmp_path)  # the example's mails go to ./var/outbox
    app = module.create_app(f"sqlite:///{tmp_path / 'plans.sqlite3'}", "k" * 64)
    with TestClient(app) as client:
        ann = signed_up(client, app, "ann")
        answers = [
            client.post("/tasks", json={"title": f"t{i}"}, headers=ann).status_code
            for i in range(4)
        ]
        assert answers == [201, 201, 201, 402]
        refused = client.get("/tasks.csv", headers=ann)
        assert refused.status_code == 402
        assert refused.json()["error"]["details"]["available_in"] == "Team"
        plan = client.put("/api/tenant/plan", json={"plan": "team"}, headers=ann)
        assert plan.status_code == 200
        assert client.post("/tasks", json={"title": "t4"}, headers=ann).status_code == 201
        assert client.get("/tasks.csv", headers=ann).status_code == 200
        usage = client.get("/api/tenant/plan", headers=ann).json()["usage"]
        assert usage["rows.example_tasks"] == 4
