"""What the host decides, not the library: the tenant header, a new tenant's name and kind."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from tenantry.db import Database
from tenantry.models import TenantKind
from tenantry.security.passwords import Passwords
from tenantry.testing import Member, register, unique_email
from tenantry.web import Tenancy, TenancyConfig, ViewerContext


@pytest.fixture
def host_config(tenantry_config: TenancyConfig) -> TenancyConfig:
    return dataclasses.replace(
        tenantry_config,
        tenant_header="X-Org-ID",
        default_tenant_name=lambda person: f"{person} & Co",
        default_tenant_kind=TenantKind.BUSINESS,
    )


@pytest.fixture
def tenantry_app(
    tenantry_database_url: str, host_config: TenancyConfig, tenantry_passwords: Passwords
) -> Iterator[FastAPI]:
    db = Database(tenantry_database_url)
    app = FastAPI()
    Tenancy(db, host_config, passwords=tenantry_passwords).install(app)

    @app.get("/whoami")
    async def whoami(ctx: ViewerContext) -> str:
        return str(ctx.tenant_id)

    yield app
    db.dispose()


def test_the_configured_header_selects_the_tenant(
    tenantry_client: Any, tenantry_member: Callable[..., Member]
) -> None:
    alice = tenantry_member()
    second = tenantry_client.post("/api/tenants", json={"name": "Second"}, headers=alice.headers)
    assert second.status_code == 201, second.text
    other = str(second.json()["tenant_id"])
    by_org = tenantry_client.get("/whoami", headers={**alice.headers, "X-Org-ID": other})
    assert by_org.json() == other
    # The default header name is not read when another one is configured.
    ignored = tenantry_client.get("/whoami", headers={**alice.headers, "X-Tenant-ID": other})
    assert ignored.json() == alice.tenant_id
    stranger = tenantry_member()
    refused = tenantry_client.get("/whoami", headers={**stranger.headers, "X-Org-ID": other})
    assert refused.status_code == 404


def test_a_new_tenant_is_named_and_kinded_by_the_host(tenantry_client: Any) -> None:
    alice = register(tenantry_client, unique_email(), display_name="Alice")
    me = tenantry_client.get("/api/me", headers=alice.headers).json()
    [tenant] = me["memberships"]
    assert tenant["name"] == "Alice & Co"
    assert "household" not in tenant["name"]
    assert tenant["kind"] == "business"


def test_the_library_default_is_the_persons_name(tenantry_client: Any) -> None:
    config = TenancyConfig(secret_key="k" * 40)
    assert config.default_tenant_name("Alice") == "Alice"
    assert config.tenant_header == "X-Tenant-ID"


def test_a_kind_given_as_text_is_taken_and_a_wrong_one_refused_at_once() -> None:
    """``"business"`` made every sign-up a 500 (the config kept the str); now it is the
    kind, and a kind that is none is refused when the config is made, not at sign-up."""
    config = TenancyConfig(secret_key="k" * 40, default_tenant_kind="business")  # type: ignore[arg-type]
    assert config.default_tenant_kind is TenantKind.BUSINESS
    with pytest.raises(ValueError, match="'biz' is not one of personal, family, business"):
        TenancyConfig(secret_key="k" * 40, default_tenant_kind="biz")  # type: ignore[arg-type]


@pytest.mark.parametrize("limit", [0, -5])
def test_a_body_limit_below_one_byte_is_refused_at_once(limit: int) -> None:
    """It made every request with a body, sign-in included, a 413."""
    with pytest.raises(ValueError, match="max_body_bytes is a whole number, at least 1"):
        TenancyConfig(secret_key="k" * 40, max_body_bytes=limit)


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ({"tenant_concurrency": 0}, "tenant_concurrency is a whole number, at least 1"),
        ({"tenant_concurrency": -1}, "tenant_concurrency is a whole number"),
        ({"tenant_concurrency": 2.5}, "tenant_concurrency is a whole number"),
        ({"tenant_concurrency": True}, "tenant_concurrency is a whole number"),
        ({"tenant_concurrency": "4"}, "tenant_concurrency is a whole number"),
        ({"process_concurrency": 0}, "process_concurrency is a whole number, at least 1"),
        ({"process_concurrency": 1.5}, "process_concurrency is a whole number"),
        ({"max_body_bytes": "1000"}, "max_body_bytes is a whole number, at least 1; got '1000'"),
        ({"max_body_bytes": 2.5}, "max_body_bytes is a whole number"),
        ({"max_owned_tenants": "3"}, r"max_owned_tenants is a whole number, at least 1 \(None"),
        ({"purge_every": 0}, "purge_every is a whole number, at least 1"),
    ],
)
def test_a_concurrency_that_is_no_count_is_refused_by_its_own_name(
    setting: dict[str, object], said: str
) -> None:
    """Outside testers' ``tenant_concurrency=0`` passed here and failed later, at
    ``Tenancy(...)``, naming the slots' internal ``per_tenant``; ``2.5`` and ``True`` passed,
    ``"4"`` was a ``TypeError`` naming nothing, as ``max_body_bytes="1000"`` still was at
    stop 48, where ``2.5`` bytes and a purge every 0 seconds passed."""
    with pytest.raises(ValueError, match=said):
        TenancyConfig(secret_key="k" * 40, **setting)  # type: ignore[arg-type]


def test_none_stands_for_no_bound_where_the_setting_allows_it() -> None:
    config = TenancyConfig(
        secret_key="k" * 40, max_owned_tenants=None, process_concurrency=None, purge_every=None
    )
    assert (config.max_owned_tenants, config.process_concurrency, config.purge_every) == (
        None,
        None,
        None,
    )
    with pytest.raises(ValueError, match="tenant_concurrency is a whole number"):
        TenancyConfig(secret_key="k" * 40, tenant_concurrency=None)  # type: ignore[arg-type]
