"""Every console and ``/api/admin`` route answers anyone but a platform admin like a missing route.

The routes are walked from the route table, so a route added tomorrow under
either prefix is checked too.
"""

from __future__ import annotations

import re
import uuid

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from tenantry.platform_admins import set_platform_admin
from tests.conftest import Member, invite_and_join

PREFIXES = ("/console", "/api/admin")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_CSRF = re.compile(r'name="csrf_token" value="[0-9a-f]+"')


def gated_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) under the gated prefixes, pages left out of OpenAPI included."""
    found = []
    for route in iter_route_contexts(app.routes):
        path, methods = route.path, route.methods
        if path and methods and path.startswith(PREFIXES):
            found += [(m, path) for m in sorted(methods - {"HEAD"})]
    return found


def concrete(path: str, tenant_id: str) -> str:
    return re.sub(r"\{[^}]+\}", tenant_id, path)


def missing_route(client: TestClient, method: str, path: str) -> tuple[int, str]:
    """What an unknown path of the same kind (API or page) answers: the reference 404.

    Outside the gated prefixes, so the reference is the app's plain not-found.
    """
    parent = "/api" if path.startswith("/api/") else ""
    response = client.request(method, f"{parent}/no-such-route-{uuid.uuid4().hex}")
    return response.status_code, _CSRF.sub("", response.text)


def test_the_walk_covers_the_console_and_the_admin_api(app: FastAPI) -> None:
    paths = {p for _, p in gated_routes(app)}
    assert any(p.startswith("/console") for p in paths)
    assert any(p.startswith("/api/admin/tenants") for p in paths)
    assert len(gated_routes(app)) >= 12


def test_everyone_but_a_platform_admin_gets_the_missing_route_404(
    app: FastAPI, client: TestClient, alice: Member, bob: Member, operator: Member
) -> None:
    member = invite_and_join(client, alice, "carol@example.com", role="member")
    callers = {
        "signed out": {},
        "tenant owner": alice.headers,  # owner and admin of her own tenant
        "member": member.headers,
        "garbage token": {"Authorization": "Bearer not-a-token"},
    }
    # Every method on every gated path: a 405 would reveal that the route exists.
    routes = sorted({(m, p) for _, p in gated_routes(app) for m in METHODS})
    for who, headers in callers.items():
        for method, template in routes:
            path = concrete(template, alice.tenant_id)
            expected = missing_route(client, method, path)
            response = client.request(method, path, headers=headers, content=b"{not json")
            got = (response.status_code, _CSRF.sub("", response.text))
            assert got == expected, f"{who}: {method} {path} answered {got[0]}"
    # A tenant admin's cookie session: answered exactly like a missing route with that cookie.
    client.cookies.set("tenantry_access", alice.access)
    for method, template in routes:
        path = concrete(template, alice.tenant_id)
        expected = missing_route(client, method, path)
        response = client.request(method, path)
        assert (response.status_code, _CSRF.sub("", response.text)) == expected, (method, path)
    client.cookies.delete("tenantry_access")
    # Nothing was changed by the attempts: the tenant is still there and active.
    detail = client.get(f"/api/admin/tenants/{alice.tenant_id}", headers=operator.headers)
    assert detail.status_code == 200
    assert detail.json()["tenant"]["status"] == "active"


def test_a_platform_admin_reaches_every_read_route(
    app: FastAPI, client: TestClient, alice: Member, operator: Member
) -> None:
    for method, template in gated_routes(app):
        if method != "GET" or ("{" not in template and template.endswith("/import")):
            continue  # the import route answers other methods with a deliberate 404
        response = client.get(concrete(template, alice.tenant_id), headers=operator.headers)
        assert response.status_code == 200, (template, response.text[:200])


def test_a_revoked_platform_admin_is_refused_on_the_next_request(
    app: FastAPI, client: TestClient, operator: Member
) -> None:
    assert client.get("/api/admin/tenants", headers=operator.headers).status_code == 200
    with app.state.tenancy.db.session() as session:
        set_platform_admin(session, email=operator.email, grant=False)
    assert client.get("/api/admin/tenants", headers=operator.headers).status_code == 404
    assert client.get("/console", headers=operator.headers).status_code == 404
