"""Fixtures for tenantize: sample legacy databases, strict mappings, a PostgreSQL database."""

from __future__ import annotations

import os
import tomllib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tenantry.migrate import Mapping, load_mapping, parse_mapping
from tenantry.migrate.samples import APPS, example_mapping, generate

# Until tests/support/postgres.py lands (branch feat/postgres), point this at a server
# whose user may CREATE DATABASE, e.g. postgresql+psycopg://postgres@127.0.0.1:55432/postgres
PG_ENV = "TENANTRY_TEST_PG_URL"


@pytest.fixture
def sqlite_sample(tmp_path: Path) -> Callable[..., str]:
    """``make(app, awkward=True) -> url`` of a fresh legacy SQLite database."""

    def make(app: str, *, awkward: bool = True, size: str = "small") -> str:
        url = f"sqlite:///{tmp_path / (app + '.db')}"
        engine = create_engine(url)
        generate(engine, app, size=size, awkward=awkward)
        engine.dispose()
        return url

    return make


def example(app: str) -> Mapping:
    return load_mapping(example_mapping(app))


def strict_mapping(app: str, tmp_path: Path) -> Path:
    """The example mapping with every policy and override removed: the default, fail."""
    data = tomllib.loads(example_mapping(app).read_text(encoding="utf-8"))
    data.pop("policies", None)
    data["users"].pop("email_overrides", None)
    parse_mapping(data)
    path = tmp_path / f"{app}-strict.toml"
    lines = [f"version = 1", "[users]"]
    lines += [f'{k} = "{v}"' for k, v in data["users"].items()]
    for name, spec in data["tables"].items():
        lines.append(f"[tables.{name}]")
        for key, value in spec.items():
            if isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, list):
                lines.append(f"{key} = [{', '.join(repr(v) for v in value)}]")
            else:
                lines.append(f'{key} = "{value}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(params=sorted(APPS))
def app(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    admin_url = os.environ.get(PG_ENV)
    if not admin_url:
        pytest.skip(f"set {PG_ENV} to run PostgreSQL tests")
    name = f"tenantize_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
