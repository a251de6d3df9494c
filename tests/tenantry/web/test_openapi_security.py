"""The OpenAPI document says which operations need a token, and says it truthfully.

Every operation is called without a token and with one: the ones a token turns
from 401 into something else must declare the bearer scheme (or the /docs
"Authorize" button does not send it), and the ones that declare it must answer
401 without one. Nothing names a route: tomorrow's are checked too.
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tenantry.testing import operations
from tests.conftest import Member

VALUES = {"int": 1, "uuid": uuid.uuid4(), "str": "x"}


def test_every_operation_that_needs_a_token_declares_it(
    app: FastAPI, client: TestClient, alice: Member
) -> None:
    spec = app.openapi()
    undeclared, unguarded = [], []
    for op in operations(app):
        documented = spec["paths"].get(op.path, {}).get(op.method.lower())
        if documented is None or op.path.startswith("/api/admin"):
            continue  # pages; the platform gate answers 404 to anyone else, token or not
        path = op.path
        for name, kind in op.path_params.items():
            path = path.replace("{" + name + "}", str(VALUES[kind]))
        answer = client.request(op.method, path, json=op.body, follow_redirects=False)
        declared = bool(documented.get("security"))
        if answer.status_code == 401 and not declared:
            signed_in = client.request(
                op.method, path, json=op.body, headers=alice.headers, follow_redirects=False
            )
            if signed_in.status_code == 401:  # refused for its body (a sign-in), not the token
                continue
            undeclared.append(f"{op.method} {op.path}")
        if declared and answer.status_code != 401:
            unguarded.append(f"{op.method} {op.path}: {answer.status_code}")
    assert undeclared == [], "401 without a declared security scheme"
    assert unguarded == [], "declares a token but answers without one"


def test_the_platform_api_is_not_published_but_still_walked(app: FastAPI) -> None:
    from tenantry.testing.routes import route_table

    assert not [p for p in app.openapi()["paths"] if p.startswith("/api/admin")]
    walked = {f"{op.method} {op.path}" for op in operations(app)}
    assert (
        "GET /api/admin/tenants" in walked and "PUT /api/admin/tenants/{tenant_id}/plan" in walked
    )
    assert "/api/admin/tenants" in route_table(app)["paths"]
