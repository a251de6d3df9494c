"""Per-tenant and per-user request budgets: 429 with Retry-After, shared through Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from tenantry.models import Tenant
from tenantry.plans import remove_override, set_override
from tenantry_server.app import create_app, default_plugins
from tenantry_server.settings import Settings
from tests.conftest import FAST_PASSWORDS, Member, invite_and_join, register
from tests.notes_app import NotesPlugin
from tests.support.redis import RedisServer


def _app(settings: Settings, **overrides: Any) -> FastAPI:
    if "plans_file" not in overrides:  # one plan naming no rate: TENANTRY_TENANT_RATE applies
        flat = settings.data_dir / "flat-plans.toml"
        flat.write_text('default = "flat"\n[[plans]]\nname = "flat"\n')
        overrides["plans_file"] = flat
    return create_app(
        settings.model_copy(update={"request_budgets": True, **overrides}),
        [*default_plugins(), NotesPlugin()],
        passwords=FAST_PASSWORDS,
    )


@pytest.fixture
def limited(settings: Settings) -> Iterator[TestClient]:
    app = _app(settings, tenant_rate="4/minute", user_rate="100/minute")
    with TestClient(app) as client:
        yield client
    app.state.tenancy.db.dispose()


def test_a_tenant_past_its_rate_gets_429_with_retry_after(limited: TestClient) -> None:
    alice = register(limited, "alice@example.com", tenant_name="A")
    statuses = [limited.get("/api/notes", headers=alice.headers).status_code for _ in range(6)]
    assert statuses.count(200) >= 3
    assert statuses[-1] == 429
    refused = limited.get("/api/notes", headers=alice.headers)
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Limit"] == "4"
    assert refused.headers["RateLimit-Remaining"] == "0"


def test_one_tenants_budget_is_not_anothers(limited: TestClient) -> None:
    alice = register(limited, "alice@example.com", tenant_name="A")
    bob = register(limited, "bob@example.com", tenant_name="B")
    while limited.get("/api/notes", headers=alice.headers).status_code != 429:
        pass
    assert limited.get("/api/notes", headers=bob.headers).status_code == 200


def test_members_of_one_tenant_share_its_budget(limited: TestClient) -> None:
    alice = register(limited, "alice@example.com", tenant_name="A")
    carol: Member = invite_and_join(limited, alice, "carol@example.com")
    while limited.get("/api/notes", headers=alice.headers).status_code != 429:
        pass
    assert limited.get("/api/notes", headers=carol.headers).status_code == 429


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_a_user_past_the_user_rate_is_refused(settings: Settings) -> None:
    app = _app(settings, tenant_rate="100/minute", user_rate="3/minute")
    with TestClient(app) as client:
        alice = register(client, "alice@example.com", tenant_name="A")
        statuses = [client.get("/api/notes", headers=alice.headers).status_code for _ in range(5)]
    app.state.tenancy.db.dispose()
    assert statuses[:2] == [200, 200]
    assert statuses[-1] == 429


@pytest.mark.redis
@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_two_apps_on_one_redis_share_a_tenants_budget(
    settings: Settings, redis: RedisServer
) -> None:
    first = _app(settings, tenant_rate="6/minute", redis_url=redis.url)
    second = _app(settings, tenant_rate="6/minute", redis_url=redis.url)
    with TestClient(first) as one, TestClient(second) as two:
        alice = register(one, "alice@example.com", tenant_name="A")
        answers = [
            (one if i % 2 else two).get("/api/notes", headers=alice.headers).status_code
            for i in range(10)
        ]
    for app in (first, second):
        app.state.tenancy.db.dispose()
    # Each app alone would admit all five of its requests: with one budget in
    # Redis, at most six pass in all (sign-up's own request may take one).
    assert 4 <= answers.count(200) <= 6
    assert answers[-3:] == [429] * 3


@pytest.mark.redis
@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
@pytest.mark.parametrize("fail_open", [True, False])
def test_a_redis_outage_follows_the_configured_policy(
    settings: Settings, redis: RedisServer, fail_open: bool
) -> None:
    """Failing closed, every request is a 503 while Redis is away: /readyz says so too, or a
    load balancer (an outside tester's) kept sending every request to such a process."""
    app = _app(settings, redis_url=redis.url, rate_limit_fail_open=fail_open)
    with TestClient(app) as client:
        alice = register(client, "alice@example.com", tenant_name="A")
        assert client.get("/readyz").status_code == 200
        redis.stop()
        answer = client.get("/api/notes", headers=alice.headers)
        ready = client.get("/readyz")
        redis.start()
        ready_again = client.get("/readyz")
    app.state.tenancy.db.dispose()
    assert ready_again.status_code == 200
    if fail_open:
        assert answer.status_code == 200
        assert ready.status_code == 200  # limits off meanwhile: requests are served
    else:
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "rate_limit_unavailable"
        assert ready.status_code == 503
        assert "rate-limit storage unreachable" in ready.json()["reason"]


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_the_plan_sets_the_tenants_rate(settings: Settings, tmp_path: Path) -> None:
    plans = tmp_path / "plans.toml"
    plans.write_text(
        'default = "tiny"\n'
        '[[plans]]\nname = "tiny"\nlimits = { requests_per_minute = 3 }\n'
        '[[plans]]\nname = "open"\nlimits = { requests_per_minute = "unlimited" }\n'
    )
    app = _app(settings, plans_file=plans, tenant_rate="100/minute")
    with TestClient(app) as client:
        alice = register(client, "alice@example.com", tenant_name="A")
        statuses = [client.get("/api/notes", headers=alice.headers).status_code for _ in range(5)]
        assert statuses[-1] == 429  # three a minute on "tiny", whatever the default says
        with app.state.tenancy.db.session() as session:
            session.execute(update(Tenant).values(plan="open"))
        assert all(
            client.get("/api/notes", headers=alice.headers).status_code == 200 for _ in range(8)
        )
    app.state.tenancy.db.dispose()


def test_a_tenants_own_budget_overrides_its_plan_on_the_next_request(
    settings: Settings, tmp_path: Path
) -> None:
    """A platform admin's ``requests_per_minute`` override is read with the membership:
    it counts on the next request, for that tenant only, and removing it restores the plan."""
    plans = tmp_path / "plans.toml"
    plans.write_text('[[plans]]\nname = "tiny"\nlimits = { requests_per_minute = 3 }\n')
    app = _app(settings, plans_file=plans, tenant_rate="100/minute")
    db = app.state.tenancy.db
    with TestClient(app) as client:
        alice = register(client, "alice@example.com", tenant_name="A")
        bob = register(client, "bob@example.com", tenant_name="B")
        with db.session() as session:
            set_override(
                session,
                tenant_id=uuid.UUID(alice.tenant_id),
                name="requests_per_minute",
                value=None,  # unlimited, over a plan of three a minute
                actor_id=None,
            )
        ok = [client.get("/api/notes", headers=alice.headers).status_code for _ in range(8)]
        assert ok == [200] * 8
        # Bob's tenant is on the same plan, with no override: three a minute.
        assert [client.get("/api/notes", headers=bob.headers).status_code for _ in range(5)][
            -1
        ] == 429
        with db.session() as session:
            remove_override(
                session,
                tenant_id=uuid.UUID(alice.tenant_id),
                name="requests_per_minute",
                actor_id=None,
            )
        # Unlimited requests were not counted; the plan's three a minute count from now.
        again = [client.get("/api/notes", headers=alice.headers).status_code for _ in range(4)]
        assert again[-1] == 429
        with db.session() as session:
            set_override(
                session,
                tenant_id=uuid.UUID(alice.tenant_id),
                name="requests_per_minute",
                value=100,
                actor_id=None,
            )
        assert client.get("/api/notes", headers=alice.headers).status_code == 200
    db.dispose()
