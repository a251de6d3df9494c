"""The bench's POST script: several wrk threads write distinct timestamps (no 422s)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from bench.datagen import Fixture, generate
from bench.load import POST_LUA, post_script, run_wrk
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
