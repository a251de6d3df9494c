"""Imported password hashes: found by --init, checked by the dry run, and every migrated
user signs in over HTTP with their old password, after which the hash is argon2."""

from __future__ import annotations

import tomllib
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from tenantry.db import Database
from tenantry.migrate import build_plan, conversion_engine, draft_mapping, parse_mapping
from tenantry.migrate.users import UNUSABLE_PASSWORD
from tenantry.models import Base
from tenantry.security.passwords import Passwords, fast_test_hasher
from tenantry_server.app import create_app, default_plugins, migrate
from tenantry_server.settings import Settings
from tests.migrate import seeds
from tests.migrate.test_seed_schemas import convert, mapping_of

MD5 = "5f4dcc3b5aa765d61d8327deb882cf99"  # an unsalted md5: tenantry will not check these


def make_workflows(url: str, *, with_md5: bool = False) -> None:
    dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
    users = [
        {"id": uid, "email": email, "password_hash": seeds.password_for(kind)}
        for uid, email, kind, _name in seeds.USERS
    ]
    if with_md5:
        users.append({"id": 5, "email": "old@example.com", "password_hash": MD5})
    seeds.build(
        url,
        seeds.workflows_ddl(dialect),
        {
            "users": users,
            "workflows": [{"id": u["id"], "user_id": u["id"], "name": "w"} for u in users],
        },
    )


def test_init_recognises_the_seed_password_column(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    seeds.build(url, seeds.electricity_ddl("sqlite"), seeds.electricity_rows())
    engine = conversion_engine(url)
    with engine.connect() as conn:
        draft = draft_mapping(conn, url)
        mapping = parse_mapping(tomllib.loads(draft))
        plan = build_plan(conn, mapping)
        # Left out of a mapping, the column is named in a warning: never silently dropped.
        bare = mapping_of(seeds.electricity_mapping().replace('password_hash = "password"\n', ""))
        bare_plan = build_plan(conn, bare)
    engine.dispose()
    assert mapping.users.password_hash == "password"
    assert plan.passwords == {"argon2": 1, "bcrypt": 2, "pbkdf2": 1}
    assert any("users.password looks like the users' passwords" in w for w in bare_plan.warnings)


def test_unknown_format_is_a_dry_run_problem(legacy_url: str, tmp_path: Path) -> None:
    make_workflows(legacy_url, with_md5=True)
    engine = conversion_engine(legacy_url)
    with engine.connect() as conn:
        plan = build_plan(conn, mapping_of(seeds.WORKFLOWS_MAPPING))
    [problem] = [p for p in plan.problems if p.kind == "password_format"]
    assert problem.blocking and problem.count == 1
    assert problem.samples[0].startswith("id 5: '5f4dcc3'")  # its shape, never the hash
    mapping = mapping_of(seeds.WORKFLOWS_MAPPING + '[policies]\npassword_format = "reset"\n')
    with engine.connect() as conn:
        assert not build_plan(conn, mapping).blocking
    convert(engine, mapping, tmp_path / "backup")
    with engine.connect() as conn:
        hashes = dict(conn.exec_driver_sql("SELECT id, password_hash FROM tenantry_users").all())
    engine.dispose()
    assert hashes[5] == UNUSABLE_PASSWORD
    assert hashes[1].startswith("$2b$") and hashes[3].startswith("pbkdf2_sha256$")


def test_every_format_signs_in_and_is_rehashed_to_argon2(legacy_url: str, tmp_path: Path) -> None:
    make_workflows(legacy_url)
    engine = conversion_engine(legacy_url)
    convert(engine, mapping_of(seeds.WORKFLOWS_MAPPING), tmp_path / "backup")
    engine.dispose()
    settings = Settings(database_url=legacy_url, data_dir=tmp_path, secret_key="s" * 64)
    migrate(settings, default_plugins())
    db = Database(legacy_url)
    Base.metadata.create_all(db.engine)  # the suite's test-only models, as tests/conftest does
    db.dispose()
    app = create_app(settings, default_plugins(), passwords=Passwords(fast_test_hasher()))
    raw = create_engine(legacy_url)

    def stored(uid: int) -> str:
        with raw.connect() as conn:
            return str(
                conn.exec_driver_sql(
                    f"SELECT password_hash FROM tenantry_users WHERE id = {uid}"
                ).scalar()
            )

    with TestClient(app) as client:
        for uid, email, kind, _name in seeds.USERS:
            before = stored(uid)
            wrong = client.post("/api/auth/login", json={"email": email, "password": "nope"})
            assert wrong.status_code == 401, kind
            assert stored(uid) == before  # a failed sign-in changes nothing
            login = client.post(
                "/api/auth/login", json={"email": email, "password": seeds.PASSWORD}
            )
            assert login.status_code == 200, (kind, login.text)
            assert stored(uid).startswith("$argon2id$"), kind
            if kind != "argon2":
                assert stored(uid) != before
            me = client.get(
                "/api/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
            )
            assert me.json()["id"] == uid
        # The new argon2 hash works at the next sign-in (the login limit is 10 a minute).
        again = client.post(
            "/api/auth/login", json={"email": seeds.USERS[0][1], "password": seeds.PASSWORD}
        )
        assert again.status_code == 200
    app.state.tenancy.db.dispose()
    raw.dispose()
