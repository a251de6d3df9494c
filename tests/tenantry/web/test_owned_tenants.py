"""How many tenants an account may own: each new one brings its plan's quotas afresh."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tenantry_server.app import create_app, default_plugins
from tenantry_server.settings import Settings
from tests.conftest import FAST_PASSWORDS, register
from tests.meterbook.conftest import csrf_of


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(
        settings.model_copy(update={"max_owned_tenants": 3}),
        default_plugins(),
        passwords=FAST_PASSWORDS,
    )
    with TestClient(app) as test_client:
        yield test_client


def test_an_account_owns_at_most_the_limit_and_a_deleted_one_frees_a_place(
    client: TestClient,
) -> None:
    owner = register(client, "many@example.com")  # its first tenant, from sign-up
    made = [
        client.post("/api/tenants", json={"name": f"Spare {i}"}, headers=owner.headers)
        for i in range(2)
    ]
    assert [m.status_code for m in made] == [201, 201]
    refused = client.post("/api/tenants", json={"name": "One too many"}, headers=owner.headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "too_many_tenants"
    assert refused.json()["error"]["details"] == {"limit": 3}
    names = [t["name"] for t in client.get("/api/tenants", headers=owner.headers).json()]
    assert "One too many" not in names and len(names) == 3
    # Another account is not counted against it; a deleted tenant frees its place.
    other = register(client, "other@example.com")
    assert client.post("/api/tenants", json={"name": "X"}, headers=other.headers).status_code == 201
    spare = {"Authorization": f"Bearer {made[0].json()['access_token']}"}
    slug = client.get("/api/tenant", headers=spare).json()["slug"]
    assert client.delete(f"/api/tenant?confirm={slug}", headers=spare).status_code == 204
    again = client.post("/api/tenants", json={"name": "Now it fits"}, headers=owner.headers)
    assert again.status_code == 201


def test_the_households_page_says_so_in_its_words(client: TestClient) -> None:
    owner = register(client, "many@example.com")
    for i in range(2):
        client.post("/api/tenants", json={"name": f"Spare {i}"}, headers=owner.headers)
    client.cookies.set("tenantry_access", owner.access)
    form = client.get("/households/new").text
    token = csrf_of(form)
    page = client.post("/households/new", data={"name": "Fourth", "csrf_token": token})
    assert page.status_code == 409
    assert "You own 3 households, the most one account may" in page.text


def test_restoring_a_deleted_tenant_counts_too(client: TestClient) -> None:
    """Delete one, create one, restore the first: past the limit by a loop, before."""
    owner = register(client, "many@example.com")
    spares = [
        client.post("/api/tenants", json={"name": f"Spare {i}"}, headers=owner.headers).json()
        for i in range(2)
    ]
    spare = {"Authorization": f"Bearer {spares[0]['access_token']}"}
    tenant = client.get("/api/tenant", headers=spare).json()
    assert client.delete(f"/api/tenant?confirm={tenant['slug']}", headers=spare).status_code == 204
    made = client.post("/api/tenants", json={"name": "In its place"}, headers=owner.headers)
    assert made.status_code == 201
    restored = client.post(f"/api/tenants/{tenant['id']}/restore", headers=owner.headers)
    assert restored.status_code == 409
    assert restored.json()["error"]["code"] == "too_many_tenants"
    client.cookies.set("tenantry_access", owner.access)
    account = client.get("/account").text
    token = csrf_of(account)
    page = client.post(
        f"/account/households/{tenant['id']}/restore",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert page.status_code == 409
    assert "You own 3 households, the most one account may" in page.text
    names = [t["name"] for t in client.get("/api/tenants", headers=owner.headers).json()]
    assert tenant["name"] not in names  # still deleted, still restorable within its grace
