"""Fixtures of meterbook's tests: a migrated app on a temporary SQLite file, and helpers."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from tenantry.security.passwords import Passwords, fast_test_hasher
from tenantry_server import Settings
from tenantry_server.app import create_app, default_plugins, migrate

with warnings.catch_warnings():
    # Starlette asks for httpx2, which is not a dependency here yet.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PASSWORD = "correct horse battery"


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/meterbook.sqlite3",
        data_dir=tmp_path,
        secret_key="x" * 40,
    )
    migrate(settings, default_plugins())
    return create_app(settings, passwords=Passwords(fast_test_hasher()))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _register(client: TestClient, email: str, invite_code: str | None = None) -> dict[str, str]:
    """A new account (own household, or joined by code); returns its bearer header."""
    body: dict[str, Any] = {"email": email, "password": PASSWORD}
    if invite_code:
        body["invite_code"] = invite_code
    response = client.post("/api/auth/register", json=body)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _invite(client: TestClient, headers: dict[str, str], role: str = "member") -> str:
    response = client.post("/api/tenant/invites", json={"role": role}, headers=headers)
    assert response.status_code == 201, response.text
    code: str = response.json()["code"]
    return code


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


Register = Callable[[str, "str | None"], dict[str, str]]
Invite = Callable[[dict[str, str], str], str]


@pytest.fixture
def register(client: TestClient) -> Register:
    """``register(email, invite_code)``: a new account's bearer header."""
    return lambda email, code=None: _register(client, email, code)


@pytest.fixture
def invite(client: TestClient) -> Invite:
    """``invite(headers, role)``: a fresh invite code of the caller's household."""
    return lambda headers, role="member": _invite(client, headers, role)


@pytest.fixture
def alice(client: TestClient) -> dict[str, str]:
    return _register(client, "alice@example.com")


@pytest.fixture
def bob(client: TestClient) -> dict[str, str]:
    return _register(client, "bob@example.com")
