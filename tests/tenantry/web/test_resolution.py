"""Tenant resolution: header, path prefix and subdomain are claims that membership decides."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from tenantry.context import TenantContext
from tenantry.roles import Role
from tenantry.web.resolution import RecentChecks
from tenantry_server.app import create_app, default_plugins
from tenantry_server.settings import Settings
from tests.conftest import FAST_PASSWORDS, Member, register
from tests.notes_app import NotesPlugin


def test_header_names_another_of_my_tenants(client: TestClient, alice: Member) -> None:
    office = client.post("/api/tenants", json={"name": "Office"}, headers=alice.headers).json()
    headers = {**alice.headers, "X-Tenant-ID": office["tenant_id"]}
    assert client.get("/api/tenant", headers=headers).json()["name"] == "Office"


def test_header_naming_a_tenant_i_do_not_belong_to_is_refused(
    client: TestClient, alice: Member, bob: Member
) -> None:
    for value in (bob.tenant_id, "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        response = client.get("/api/notes", headers={**alice.headers, "X-Tenant-ID": value})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "tenant_not_found"


def test_path_prefix_selects_the_tenant(client: TestClient, alice: Member, bob: Member) -> None:
    slug = client.get("/api/tenant", headers=alice.headers).json()["slug"]
    assert client.get(f"/t/{slug}/api/tenant", headers=alice.headers).json()["slug"] == slug
    assert client.get(f"/t/{slug}/api/notes", headers=bob.headers).status_code == 404


def test_a_path_slug_no_tenant_can_have_is_an_unknown_tenant(
    client: TestClient, alice: Member
) -> None:
    """Found by an outside tester: ``/t/SLUG/…`` was a bare route miss ("Not Found")."""
    slug = client.get("/api/tenant", headers=alice.headers).json()["slug"]
    for path in (f"/t/{slug.upper()}/api/notes", "/t/no%20such/api/tenant", "/t/-x-/api/notes"):
        answer = client.get(path, headers=alice.headers)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "tenant_not_found", path


def test_subdomain_selects_the_tenant(settings: Settings, tmp_path: Path) -> None:
    app = create_app(
        settings.model_copy(update={"base_domain": "example.test"}),
        [*default_plugins(), NotesPlugin()],
        passwords=FAST_PASSWORDS,
    )
    with TestClient(app, base_url="http://example.test") as client:
        alice = register(client, "alice@example.com", tenant_name="Acme")
        bob = register(client, "bob@example.com", tenant_name="Other")
        ok = client.get("/api/tenant", headers={**alice.headers, "Host": "acme.example.test"})
        assert ok.json()["slug"] == "acme"
        refused = client.get("/api/notes", headers={**bob.headers, "Host": "acme.example.test"})
        assert refused.status_code == 404
        # Alice also owns "Other2": a host that names no tenant must not fall through to
        # the tenant of her token, nor the site's www host to anything but her token's.
        second = client.post("/api/tenants", json={"name": "Other2"}, headers=alice.headers)
        other2 = {"Authorization": f"Bearer {second.json()['access_token']}"}
        for host in ("x.acme.example.test", "www.acme.example.test", "acme..example.test"):
            wrong = client.get("/api/tenant", headers={**other2, "Host": host})
            assert wrong.status_code == 404, (host, wrong.text)
            assert wrong.json()["error"]["code"] == "tenant_not_found"
        site = client.get("/api/tenant", headers={**other2, "Host": "www.example.test"})
        assert site.json()["name"] == "Other2"  # the site itself names none: the token does
        # No tenant gets the site's label for its slug: it could never be reached by host.
        www = client.post("/api/tenants", json={"name": "WWW"}, headers=alice.headers)
        token = {"Authorization": f"Bearer {www.json()['access_token']}"}
        assert client.get("/api/tenant", headers=token).json()["slug"].startswith("www-")
    app.state.tenancy.db.dispose()


def test_recent_checks_forget_the_oldest_and_the_refused() -> None:
    checks = RecentChecks(limit=2)
    contexts = [TenantContext(uuid.uuid4(), None, Role.MEMBER) for _ in range(3)]  # type: ignore[arg-type]
    for n, ctx in enumerate(contexts):
        checks.passed(("claim", n), ctx)
    assert checks.get(("claim", 0)) is None  # the oldest made room
    assert checks.get(("claim", 2)) is contexts[2]
    checks.passed(("claim", 1), contexts[0])  # a new context for a known claim replaces it
    assert checks.get(("claim", 1)) is contexts[0] and checks.get(("claim", 2)) is contexts[2]
    checks.failed(("claim", 2))
    assert checks.get(("claim", 2)) is None
