"""The bench's wrk scripts: POST threads write distinct timestamps (no 422s); GET paths rotate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from bench.datagen import Fixture, generate
from bench.fairness import dashboard_periods
from bench.load import POST_LUA, get_script, post_script, run_wrk
from bench.servers import Running, free_port, running, uvicorn_cmd

from tenantry.roles import Role
from tenantry.security.tokens import TokenService

SECRET = "test-bench-" + "s" * 40


@pytest.fixture(scope="module")
def fixture(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return generate(tmp_path_factory.mktemp("bench") / "t.db", 3, 300, focus_rows=100)


@pytest.fixture(scope="module")
def bare(fixture: Fixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    port = free_port()
    env = {"BENCH_DB": str(fixture.path), "BENCH_SECRET": SECRET}
    log = tmp_path_factory.mktemp("logs") / "bare.log"
    with running("bare", uvicorn_cmd("bench.baseline_app:app", port), env, port, log=log) as srv:
        yield srv


def _token(fx: Fixture, i: int) -> str:
    tokens = TokenService(SECRET, access_ttl=timedelta(hours=1))
    return tokens.issue(user_id=fx.user_ids[i], tenant_id=fx.tenant_uuid(i), role=Role.OWNER)[0]


def test_two_threads_send_distinct_readings(bare: Running, fixture: Fixture) -> None:
    out = run_wrk(
        bare.readings, post_script(_token(fixture, 1)), seconds=1, connections=4, threads=2
    )
    assert out["requests"] > 10
    assert out["non_2xx"] == 0


def test_a_local_thread_no_would_repeat_timestamps(bare: Running, fixture: Fixture) -> None:
    """The bug the script had: ``local thread_no`` hides setup()'s value, threads collide."""
    buggy = (
        POST_LUA.replace("thread_no = 0", "local thread_no = 0")
        .replace("{TOKEN}", _token(fixture, 2))
        .replace("{RUN_BASE}", "17000000")
    )
    out = run_wrk(bare.readings, buggy, seconds=1, connections=4, threads=2)
    assert out["non_2xx"] > 0


def test_every_run_gets_its_own_time_range() -> None:
    first, second = post_script("t"), post_script("t")
    assert "local thread_no" not in first
    assert first != second


def test_a_get_script_with_paths_sends_those_paths(bare: Running, fixture: Fixture) -> None:
    token = _token(fixture, 0)
    good = ["/api/readings?limit=1", "/api/readings?limit=2"]
    out = run_wrk(bare.readings, get_script([token], good), seconds=1, connections=2)
    assert out["requests"] > 10 and out["non_2xx"] == 0
    # Half of them to a path the server does not have: the URL's own path is not used.
    out = run_wrk(
        bare.readings, get_script([token], [good[0], "/nowhere"]), seconds=1, connections=2
    )
    assert 0 < out["non_2xx"] < out["requests"]


def test_no_two_dashboard_floods_ask_the_same_period() -> None:
    """The dashboard is cached per period: a repeated period would be a cache hit."""
    first, second = dashboard_periods(), dashboard_periods()
    assert len(set(first)) == len(first)
    assert not set(first) & set(second)
    assert all("from=2000-01-01&to=" in path for path in first)
