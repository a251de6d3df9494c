"""The plans example of docs/plans.md works as the docs say."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from tests.support.mail import link_in, mailed, query_value

EXAMPLE = Path(__file__).parents[2] / "examples" / "plans.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("examples_plans", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["examples_plans"] = module
    spec.loader.exec_module(module)
    return module


def test_the_example_enforces_its_catalogue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = sys.modules.get("examples_plans") or _load()
    monkeypatch.chdir(tmp_path)  # the example's mails go to ./var/outbox
    app = module.create_app(f"sqlite:///{tmp_path / 'plans.sqlite3'}", "k" * 64)
    with TestClient(app) as client:
        email = "ann@example.com"
        client.post("/api/auth/register", json={"email": email, "password": "long enough pw"})
        link = link_in(mailed(app, email, "welcome"), "/verify-email")
        r = client.post("/api/auth/verify", json={"token": query_value(link, "token")})
        ann = {"Authorization": f"Bearer {r.json()['access_token']}"}
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
