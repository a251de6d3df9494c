"""Fixtures for tenantize: sample legacy databases, strict mappings, a PostgreSQL database."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from tenantry.migrate import Mapping, load_mapping, parse_mapping
from tenantry.migrate.samples import APPS, example_mapping, generate
from tests.support.postgres import OWNER_ROLE, PostgresServer


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
    lines = ["version = 1", "[users]"]
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
def sample_app(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def pg_url(postgres: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database owned by the owner role, dropped afterwards."""
    name = postgres.create_database()
    yield postgres.url(OWNER_ROLE, name)
    postgres.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def legacy_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend, for a legacy schema written by hand."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'legacy.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url
