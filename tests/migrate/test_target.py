"""Target mode: a seed-000 database becomes a meterbook database in one command, and the
server serves it: a migrated user signs in and reads their readings and dashboard."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tenantry.cli.main import app as cli
from tenantry.db import Database
from tenantry.migrate import MappingError, build_plan, conversion_engine, parse_mapping
from tenantry.models import Base
from tenantry.security.passwords import Passwords, fast_test_hasher
from tenantry_server.app import create_app, default_plugins, migrate
from tenantry_server.settings import Settings
from tests.migrate import seeds
from tests.migrate.test_seed_schemas import make_electricity

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "electricity-meterbook.toml"


def tenantize(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["tenantize", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def converted(url: str, tmp_path: Path) -> None:
    """The seed-000 database converted with the shipped example, through the CLI."""
    make_electricity(url, dangling=True)
    code, out = tenantize("--db", url, "--map", str(EXAMPLE))
    assert code == 0, out
    assert "become NULL" in out  # the reading of user 99 keeps its row, not the reference
    report = tmp_path / "report.json"
    code, out = tenantize(
        "--db", url, "--map", str(EXAMPLE), "--apply", "--quiet",
        "--backup", str(tmp_path / "backup"), "--report", str(report),
    )  # fmt: skip
    assert code == 0, out
    assert "verified" in out
    checks = {c["name"]: c for c in json.loads(report.read_text())["verification"]["checks"]}
    assert checks["target:readings"]["ok"] and checks["target:vouchers"]["ok"]


def serve(url: str, tmp_path: Path) -> FastAPI:
    settings = Settings(database_url=url, data_dir=tmp_path, secret_key="s" * 64)
    migrate(settings, default_plugins())  # adopts readings and vouchers: they are meterbook's
    db = Database(url)
    Base.metadata.create_all(db.engine)  # the suite's test-only models, as tests/conftest does
    db.dispose()
    return create_app(settings, default_plugins(), passwords=Passwords(fast_test_hasher()))


@pytest.fixture
def served(legacy_url: str, tmp_path: Path) -> Iterator[TestClient]:
    converted(legacy_url, tmp_path)
    app = serve(legacy_url, tmp_path)
    with TestClient(app) as client:
        yield client
    app.state.tenancy.db.dispose()


def test_seed_000_becomes_meterbook_and_is_served(served: TestClient, legacy_url: str) -> None:
    client = served
    login = client.post(
        "/api/auth/login", json={"email": "ravi@example.com", "password": seeds.PASSWORD}
    )  # a $2y$ bcrypt hash of the legacy app
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    readings = client.get("/api/readings", params={"sort": "date"}, headers=headers)
    assert readings.status_code == 200, readings.text
    body = readings.json()
    assert body["total"] == 5
    first = body["items"][0]
    assert first["meter_kwh"] == "1207.250"  # 1000 + 2 * 100 + 7.25 kWh, stored as Wh
    assert first["read_at"].startswith("2026-03-01T00:00:00")
    vouchers = client.get("/api/vouchers", headers=headers).json()
    assert vouchers["total"] == 2
    assert sorted(v["amount"] for v in vouchers["items"]) == ["301.00", "602.00"]
    assert sorted(v["kwh"] for v in vouchers["items"]) == ["125.000", "250.000"]
    assert {v["token_number"] for v in vouchers["items"]} == {"1234-5678-0003", "1234-5678-0004"}
    dashboard = client.get(
        "/api/dashboard", params={"from": "2026-03-01", "to": "2026-03-31"}, headers=headers
    )
    assert dashboard.status_code == 200, dashboard.text
    csv = client.get("/api/readings.csv", headers=headers)
    assert csv.status_code == 200 and csv.text.count("\n") == 6  # a header and five rows
    doctor = CliRunner().invoke(cli, ["doctor", "--db", legacy_url, "--json"])
    findings = json.loads(doctor.output)["findings"]
    assert not [f for f in findings if f["check"] == "schema_mismatch"]


def test_unconvertible_values_are_dry_run_problems(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    rows = seeds.electricity_rows()
    rows["vouchers"][0]["kwh"] = None  # energy_wh needs a value and has no default
    rows["readings"][2]["date"] = "last Tuesday"
    seeds.build(url, seeds.electricity_ddl("sqlite"), rows)
    code, out = tenantize("--db", url, "--map", str(EXAMPLE), "--report", str(tmp_path / "r.json"))
    assert code == 2, out
    problems = json.loads((tmp_path / "r.json").read_text())["plan"]["problems"]
    found = {p["table"]: p for p in problems if p["kind"] == "unconvertible"}
    assert found["readings"]["samples"] == ["3: read_at: 'last Tuesday' is not a datetime"]
    assert found["vouchers"]["samples"] == ["1: energy_wh: no value, and the column needs one"]


def test_a_legacy_column_is_never_left_behind_silently(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    seeds.build(url, seeds.electricity_ddl("sqlite"), seeds.electricity_rows())
    data = tomllib.loads(EXAMPLE.read_text())
    del data["tables"]["readings"]["columns"]["note"]
    engine = conversion_engine(url)
    with engine.connect() as conn, pytest.raises(MappingError, match="notes would not reach"):
        build_plan(conn, parse_mapping(data))
    data["tables"]["readings"]["drop"] = ["notes"]
    with engine.connect() as conn:
        assert not build_plan(conn, parse_mapping(data)).blocking
    data["tables"]["readings"]["columns"]["meter_wh"] = {"from": "kwh"}
    with engine.connect() as conn, pytest.raises(MappingError, match="no column 'kwh'"):
        build_plan(conn, parse_mapping(data))
    engine.dispose()
