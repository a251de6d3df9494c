"""The pytest plugin (entry point ``pytest11``): a tenant-aware app's fixtures and its attack.

Your ``conftest.py`` defines one fixture, ``tenantry_app``, built from
``tenantry_database_url``, ``tenantry_config`` and ``tenantry_passwords``; the
plugin gives you clients, members of any role in any tenant, and
``tenantry_attack``, which seeds every tenant table and walks every route as a
second tenant. See docs/guide.md ("Tests, with the shipped plugin") and docs/tenancy.md
("Proving it").
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tenantry.roles import Role
from tenantry.testing.members import Member, invite_and_join, member_of

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tenantry.security.passwords import Passwords
    from tenantry.web.config import TenancyConfig

DATABASE_ENV = "TENANTRY_TEST_DATABASE_URL"
TEST_SECRET = "tenantry-test-only-signing-key-" + "x" * 32


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "tenantry_migrations",
        "your app's migrations directory (tenantry migrations init), relative to the rootdir",
        default="",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A test that failed on a missing table, with the ``tenantry_migrations`` option unset,
    is told how to get the app's tables: the error alone says "no such table"."""
    report = yield
    # The error is the exception itself (the attack's seeding) or, behind a 500, the log.
    seen = f"{call.excinfo.value if call.excinfo else ''} {report.caplog} {report.capstderr}"
    if (
        call.excinfo is not None
        and "no such table" in seen
        and not item.config.getini("tenantry_migrations")
    ):
        report.sections.append(
            (
                "tenantry",
                "The test database has only tenantry's own tables: add "
                "`tenantry_migrations = <your migrations directory>` under [pytest] in "
                "pytest.ini (the directory `tenantry migrations init` made), or create "
                "your tables in your tenantry_app fixture.",
            )
        )
    return report


def _migrations(config: pytest.Config) -> Path | None:
    value = str(config.getini("tenantry_migrations") or "")
    return config.rootpath / value if value else None


def _migrate(url: str, app_dir: Path | None) -> None:
    from tenantry.db import make_engine
    from tenantry.migrations.runner import migrate_database

    engine = make_engine(url)
    try:
        migrate_database(engine, app_dir=app_dir)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def tenantry_database_template(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The migrated database of the session: ``$TENANTRY_TEST_DATABASE_URL`` or a SQLite file.

    A URL from the environment is used as it is: migrate it beforehand, as the
    owner, with ``tenantry migrate --app-role``, and give the runtime role's URL
    here (row-level security binds that role, not the owner). Otherwise a SQLite
    file is migrated once: the core's revisions and the app's, from the
    ``tenantry_migrations`` ini option.
    """
    url = os.environ.get(DATABASE_ENV)
    if url:
        return url
    url = f"sqlite:///{tmp_path_factory.mktemp('tenantry') / 'template.sqlite3'}"
    _migrate(url, _migrations(pytestconfig))
    return url


@pytest.fixture
def tenantry_database_url(tenantry_database_template: str, tmp_path: Path) -> str:
    """A migrated database for one test: a copy of the SQLite template, or the shared server.

    A shared server database is safe to reuse: the plugin's people have unique emails.
    """
    prefix = "sqlite:///"
    if not tenantry_database_template.startswith(prefix):
        return tenantry_database_template
    copy = tmp_path / "tenantry.sqlite3"
    shutil.copy(tenantry_database_template.removeprefix(prefix), copy)
    return f"{prefix}{copy}"


@pytest.fixture(scope="session")
def tenantry_passwords() -> Passwords:
    """A password hasher with cheap argon2 parameters (never for production)."""
    from tenantry.security.passwords import Passwords, fast_test_hasher

    return Passwords(fast_test_hasher())


@pytest.fixture
def tenantry_config(tmp_path: Path) -> TenancyConfig:
    """A ``TenancyConfig`` for tests: a fixed signing key, no sign-up or login rate limits,
    and a job spool and a mail outbox of the test's own (a job one test leaves never waits
    in another's; the tests' mails, their links among them, never land in ./var/outbox)."""
    from tenantry.web.config import TenancyConfig

    return TenancyConfig(
        secret_key=TEST_SECRET,
        rate_limits=False,
        jobs_spool_dir=tmp_path / "spool",
        outbox_dir=tmp_path / "outbox",
    )


@pytest.fixture
def tenantry_app() -> FastAPI:
    """Your app. Override this fixture in your conftest.py; the default explains how."""
    raise pytest.UsageError(
        "define a `tenantry_app` fixture in your conftest.py that returns your FastAPI app, "
        "built on `tenantry_database_url`, `tenantry_config` and `tenantry_passwords`"
    )


@pytest.fixture
def tenantry_client(tenantry_app: FastAPI) -> Iterator[Any]:
    """A ``TestClient`` of ``tenantry_app`` (lifespan run)."""
    from fastapi.testclient import TestClient

    with TestClient(tenantry_app) as client:
        yield client


@pytest.fixture
def tenantry_member(tenantry_client: Any) -> Callable[..., Member]:
    """``tenantry_member(role="owner", tenant=None)``: a signed-in person.

    Without ``tenant`` it is the owner of a new tenant; with ``tenant`` (a member
    who may invite) it joins that tenant with ``role``, any role including owner.
    """

    def make(role: Role | str = Role.OWNER, tenant: Member | None = None) -> Member:
        return member_of(tenantry_client, tenant, role)

    return make


@pytest.fixture
def tenantry_invite_and_join(tenantry_client: Any) -> Callable[..., Member]:
    """``tenantry_invite_and_join(admin, role="member", email=None)``: join by invite code."""

    def join(admin: Member, role: Role | str = Role.MEMBER, email: str | None = None) -> Member:
        return invite_and_join(tenantry_client, admin, email, role)

    return join


@pytest.fixture
def tenantry_attack(tenantry_app: FastAPI, tenantry_client: Any) -> Callable[..., list[str]]:
    """``tenantry_attack(during=None)``: the route-walk attack's findings; ``[]``: isolation held.

    Tenant A gets two rows in every tenant table (strings carry a marker), a
    second member and an open invite; tenant B has data of its own. B then
    requests every route that takes an id (in the path, the query or the body) with
    A's ids, expecting the answer a missing id gets and A's rows untouched, searches
    every list for the marker and reads it again once A has more rows, and sends every
    write that names no object, A's rows again untouched (see
    :func:`tenantry.testing.attack_routes`). ``during`` wraps the
    walk only, not the seeding (``during=scoping_switched_off`` proves the attack
    can fail).
    """
    from tenantry.context import TenantContext
    from tenantry.ids import TenantId, UserId
    from tenantry.testing.attack import attack_routes, collect_victim
    from tenantry.testing.seeding import seed_every_table

    def attack(during: Callable[[], AbstractContextManager[Any]] = nullcontext) -> list[str]:
        marker = "VICTIM-" + uuid.uuid4().hex[:10]
        victim_owner = member_of(tenantry_client)
        attacker = member_of(tenantry_client)
        invite_and_join(tenantry_client, victim_owner)
        tenantry_client.post(
            "/api/tenant/invites", json={"max_uses": 5}, headers=victim_owner.headers
        )
        db = tenantry_app.state.tenancy.db
        for who, text in ((victim_owner, marker), (victim_owner, marker), (attacker, "own")):
            ctx = TenantContext(TenantId(uuid.UUID(who.tenant_id)), UserId(who.user_id), Role.OWNER)
            seed_every_table(db, ctx, marker=text)
        victim = collect_victim(db, uuid.UUID(victim_owner.tenant_id), markers=[marker])
        own = collect_victim(db, uuid.UUID(attacker.tenant_id))
        if not victim.int_ids:
            return ["the attack found no tenant rows to attack: are the app's models imported?"]
        with during():
            return attack_routes(
                tenantry_client,
                tenantry_app,
                attacker_headers=attacker.headers,
                victim=victim,
                new_attacker=lambda: member_of(tenantry_client).headers,
                attacker_rows=own,
            )

    return attack
