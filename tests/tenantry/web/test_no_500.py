"""No input produces a 500: every API operation, fed hostile paths and bodies."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tenantry.testing import operations
from tests.conftest import Member

HOSTILE_IDS = [
    "-1",
    "0",
    "99999999999999999999999",
    "9223372036854775808",
    "2147483648",
    "%00",
    "é",
    "1e3",
]
HOSTILE_VALUES: list[Any] = [None, 10**30, -(10**30), "x" * 5000, [], {"$": 1}, "\u0000", 1.5e308]


def _hostile_bodies(example: Any) -> list[Any]:
    bodies: list[Any] = [[], "not an object", 12]
    if isinstance(example, dict):
        for key in example or {"field": None}:
            bodies += [{**example, key: value} for value in HOSTILE_VALUES]
    return bodies


def test_hostile_input_never_gets_a_500(app: FastAPI, client: TestClient, alice: Member) -> None:
    failures: list[str] = []
    for op in operations(app):
        if not op.path.startswith("/api") or (op.path == "/api/tenant" and op.method == "DELETE"):
            continue
        paths = [op.path]
        for name in op.path_params:
            paths = [p.replace("{" + name + "}", value) for p in paths for value in HOSTILE_IDS]
        bodies = _hostile_bodies(op.body) if op.body is not None else [None]
        for path in paths:
            for body in bodies:
                response = client.request(op.method, path, json=body, headers=alice.headers)
                if response.status_code >= 500:
                    failures.append(f"{op.method} {path} {str(body)[:60]}: {response.status_code}")
                elif response.status_code >= 400 and "error" not in response.json():
                    failures.append(f"{op.method} {path}: error without the error shape")
    assert failures == []
