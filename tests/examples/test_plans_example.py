"""The plans example of docs/plans.md works as the docs say."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from fastapi.testclient import TestClient

EXAMPLE = Path(__file__).parents[2] / "examples" / "plans.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("examples_plans", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["examples_plans"] = module
    spec.loader.exec_module(module)
    return module


def test_the_example_enforces_its_catalogue(tmp_path: Path) -> None:
    module = sys.modules.get("examples_plans") or _load()
    app = module.create_app(f"sqlite:///{tmp_path / 'plans.sqlite3'}", "k" * 64)
    with TestClient(app) as client:
        r = client.post(
            "/api/auth/register", json={"email": "ann@example.com", "password": "long enough pw"}
        )
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
