"""meterbook's fixtures: people as bearer headers (app and client: tests/conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from tenantry.models import Tenant
from tests.conftest import register as register_member

PASSWORD = "correct horse battery"


def _register(client: TestClient, email: str, invite_code: str | None = None) -> dict[str, str]:
    """A new, verified account (own household, or joined by code); returns its bearer header."""
    extra: dict[str, Any] = {"invite_code": invite_code} if invite_code else {}
    return register_member(client, email, **extra).headers


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


@pytest.fixture
def household_plan(app: FastAPI, alice: dict[str, str]) -> None:
    """Alice's household (and any made before) on the Household plan: CSV import is in it."""
    with app.state.tenancy.db.session() as session:
        session.execute(update(Tenant).values(plan="household"))
