"""The console's placement: shown in the list and on the tenant's page, moves started by form."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from tenantry_server.settings import Settings
from tests.conftest import Member
from tests.support.placement import two_server_app

_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@pytest.fixture
def app(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FastAPI]:
    with two_server_app(settings, request, tmp_path) as application:
        yield application


def _page(client: TestClient, operator: Member, tenant_id: str) -> str:
    response = client.get(f"/console/tenants/{tenant_id}", headers=operator.headers)
    assert response.status_code == 200, response.text
    return response.text


def _post(client: TestClient, operator: Member, tenant_id: str, target: str) -> Response:
    token = _CSRF.search(_page(client, operator, tenant_id))
    assert token is not None
    return client.post(
        f"/console/tenants/{tenant_id}/move",
        data={"target": target, "csrf_token": token.group(1)},
        headers=operator.headers,
        follow_redirects=False,
    )


def test_an_operator_sees_placements_and_moves_a_tenant_from_its_page(
    client: TestClient, alice: Member, operator: Member
) -> None:
    t = alice.tenant_id
    listing = client.get("/console?q=alice", headers=operator.headers).text
    assert re.search(r'<td class="placement" title="shared">shared</td>', listing)
    page = _page(client, operator, t)
    assert "In the shared tables" in page and 'id="move-status"' not in page
    assert 'value="dedicated:one"' in page and 'value="dedicated:two"' in page
    assert 'value="shared"' not in page  # it is there already

    unknown = _post(client, operator, t, "dedicated:nowhere")
    assert unknown.status_code == 422 and "no server named" in unknown.text
    nonsense = _post(client, operator, t, "sideways")
    assert nonsense.status_code == 422 and "must be" in nonsense.text

    started = _post(client, operator, t, "dedicated:two")
    assert started.status_code == 303
    location = started.headers["location"]
    assert location.endswith("?msg=move#placement")
    first = client.get(location, headers=operator.headers).text
    assert "Move started" in first
    deadline = time.monotonic() + 60
    page = first
    while 'data-status="done"' not in page:
        assert time.monotonic() < deadline, page
        assert 'data-status="failed"' not in page, page
        if 'data-status="running"' in page:  # followed by the page itself
            assert 'http-equiv="refresh"' in page and 'id="move-form"' not in page
        time.sleep(0.1)
        page = _page(client, operator, t)
    assert "In a database of its own" in page and "on server <code>two</code>" in page
    assert 'http-equiv="refresh"' not in page and "platform.move_started" in page
    assert 'value="shared"' in page and 'value="dedicated:two"' not in page
    listing = client.get("/console?q=alice", headers=operator.headers).text
    assert "dedicated · two" in listing

    again = _post(client, operator, t, "dedicated:two")  # not offered, but asked for
    assert again.status_code == 409 and "already" in again.text


def test_without_a_placement_configuration_the_page_says_so(
    settings: Settings, tmp_path: Path, alice: Member, operator: Member, client: TestClient
) -> None:
    """A plain app (tests/conftest.py): every tenant shared, and no move to offer."""
    # This module's app has placements; the plain one is built here.
    from tenantry_server.app import create_app, default_plugins
    from tests.conftest import FAST_PASSWORDS
    from tests.notes_app import NotesPlugin

    plain = create_app(settings, [*default_plugins(), NotesPlugin()], passwords=FAST_PASSWORDS)
    try:
        with TestClient(plain) as other:
            page = other.get(f"/console/tenants/{alice.tenant_id}", headers=operator.headers)
            assert page.status_code == 200 and 'id="no-placements"' in page.text
            assert 'id="move-form"' not in page.text
            token = _CSRF.search(page.text)
            assert token is not None
            refused = other.post(
                f"/console/tenants/{alice.tenant_id}/move",
                data={"target": "dedicated", "csrf_token": token.group(1)},
                headers=operator.headers,
            )
            assert refused.status_code == 409 and "not configured" in refused.text
            api = other.post(
                f"/api/admin/tenants/{alice.tenant_id}/move",
                json={"to": "dedicated"},
                headers=operator.headers,
            )
            assert api.status_code == 409
            assert api.json()["error"]["code"] == "placement_not_configured"
    finally:
        plain.state.tenancy.db.dispose()
