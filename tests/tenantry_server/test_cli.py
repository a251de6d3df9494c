"""``tenantry serve``/``worker`` on bad input: one line naming the fault, exit 2, no traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tenantry.cli.main import app as main_app
from tenantry_server.cli import _redis_state, app
from tests.support.redis import RedisServer


def serve(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    env.setdefault("TENANTRY_DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(app, ["serve", *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result.exit_code, result.output


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_a_port_out_of_range_is_refused(tmp_path: Path, port: str) -> None:
    code, out = serve(tmp_path, "--port", port, DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    assert code == 2, out
    assert "--port" in out and not (tmp_path / "x.db").exists()


def test_a_port_out_of_range_in_the_settings_is_refused(tmp_path: Path) -> None:
    code, out = serve(tmp_path, TENANTRY_PORT="99999")
    assert code == 2, out
    assert out.startswith("error: invalid settings: TENANTRY_PORT: ") and "65535" in out


@pytest.mark.parametrize("variable", ["TENANTRY_USER_RATE", "TENANTRY_TENANT_RATE"])
def test_a_rate_that_is_not_one_is_refused_at_start(tmp_path: Path, variable: str) -> None:
    """It was taken, and every tenant request then answered 500."""
    code, out = serve(tmp_path, **{variable: "lots"})
    assert code == 2, out
    assert (
        out.strip()
        == f"error: invalid settings: {variable}: 'lots' is not a rate such as '600/minute'"
    )


@pytest.mark.parametrize("url", ["notredis://x", "localhost:6379"])
def test_a_redis_url_that_is_not_one_is_refused_at_start(tmp_path: Path, url: str) -> None:
    """It passed --migrate-only, and serve then died in a 49-line traceback."""
    code, out = serve(tmp_path, "--migrate-only", REDIS_URL=url)
    assert code == 2, out
    assert out.startswith("error: invalid settings: REDIS_URL: ") and "rediss://" in out, out
    assert len(out.strip().splitlines()) == 1


@pytest.mark.parametrize("url", ["bogus://x", "memcached://localhost:11211", "redis"])
def test_a_rate_limit_storage_that_is_not_one_is_refused_at_start(tmp_path: Path, url: str) -> None:
    """``limits`` refused it deep in app construction: a traceback."""
    code, out = serve(tmp_path, "--migrate-only", TENANTRY_RATE_LIMIT_STORAGE=url)
    assert code == 2, out
    assert out.startswith("error: invalid settings: TENANTRY_RATE_LIMIT_STORAGE: "), out
    assert "memory://" in out and len(out.strip().splitlines()) == 1


@pytest.mark.parametrize("url", ["garbage", "nosuchdialect://x/y"])
@pytest.mark.parametrize("variable", ["DATABASE_URL", "MIGRATION_DATABASE_URL"])
def test_a_bad_database_url(tmp_path: Path, url: str, variable: str) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", variable: url}
    code, out = serve(tmp_path, "--migrate-only", **env)
    assert code == 2, out
    assert out.startswith("tenantry serve: bad database URL: "), out
    assert len(out.strip().splitlines()) == 1


def test_a_database_whose_directory_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    code, out = serve(
        tmp_path, "--migrate-only", DATABASE_URL=f"sqlite:///{tmp_path / 'file' / 'x.db'}"
    )
    assert code == 2, out
    assert out.splitlines()[-1].startswith("tenantry serve: cannot create the database's dir"), out


def test_worker_with_a_bad_database_url(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["worker"],
        env={
            "DATABASE_URL": "garbage",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "TENANTRY_DATA_DIR": str(tmp_path),
        },
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith("tenantry worker: bad database URL: ")


def test_a_worker_refuses_a_database_that_is_missing_or_not_migrated(tmp_path: Path) -> None:
    """Started elsewhere without DATABASE_URL, it made an empty database of its own and
    failed (and dropped) every job on "no such table"."""
    env = {"REDIS_URL": "redis://127.0.0.1:1/0", "TENANTRY_DATA_DIR": str(tmp_path)}
    missing = tmp_path / "nowhere.sqlite3"
    result = CliRunner().invoke(
        app, ["worker"], env={**env, "DATABASE_URL": f"sqlite:///{missing}"}
    )
    assert result.exit_code == 2, result.output
    assert "no database at" in result.output and not missing.exists()
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()
    result = CliRunner().invoke(app, ["worker"], env={**env, "DATABASE_URL": f"sqlite:///{empty}"})
    assert result.exit_code == 2, result.output
    assert "is not migrated: point DATABASE_URL at the server's database" in result.output


def test_a_row_quota_on_a_table_no_model_counts_is_refused_at_start(tmp_path: Path) -> None:
    """A misspelt ``rows.readngs`` loaded, and the plan's readings were unlimited."""
    plans = tmp_path / "plans.toml"
    plans.write_text('[[plans]]\nname = "home"\n[plans.limits]\n"rows.readngs" = 3\n')
    code, out = serve(
        tmp_path,
        "--migrate-only",
        TENANTRY_PLANS_FILE=str(plans),
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
    )
    assert code == 2, out
    assert out.startswith("error: plan 'home': limits.rows.readngs: no model counts"), out
    assert "rows.readings" in out and not (tmp_path / "x.db").exists()


def test_migrate_only_says_what_it_applied(tmp_path: Path) -> None:
    """On a new database it said "schema is up to date" after applying every revision."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    code, out = serve(tmp_path, "--migrate-only", DATABASE_URL=url)
    assert code == 0, out
    _where, applied = out.strip().splitlines()
    assert applied.startswith("applied ") and "revision(s): " in applied
    code, out = serve(tmp_path, "--migrate-only", DATABASE_URL=url)
    assert (code, out.strip().splitlines()[1:]) == (0, ["schema is up to date"])


def test_serve_names_the_database_and_data_directory_it_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the defaults, a release started elsewhere made a new empty database and key
    and said nothing: the paths it uses are printed, absolute, with no password."""
    monkeypatch.chdir(tmp_path)
    code, out = serve(tmp_path, "--migrate-only", DATABASE_URL="sqlite:///var/t.sqlite3")
    assert code == 0, out
    assert out.splitlines()[0] == (
        f"database: sqlite:///{tmp_path / 'var' / 't.sqlite3'}; data directory: {tmp_path / 'var'}"
    )
    code, out = serve(
        tmp_path,
        "--migrate-only",
        DATABASE_URL="postgresql+psycopg://app:s3cret@127.0.0.1:1/x",
        TENANTRY_DATA_DIR="var",
    )
    assert code != 0 and "s3cret" not in out
    assert out.startswith("database: postgresql+psycopg://app:***@127.0.0.1:1/x; "), out


def test_a_database_a_newer_release_migrated_is_named_not_a_traceback(tmp_path: Path) -> None:
    """Rolling the code back after an upgrade: serve and migrate died in Alembic's
    "Can't locate revision" traceback."""
    db = tmp_path / "x.db"
    code, out = serve(tmp_path, "--migrate-only", DATABASE_URL=f"sqlite:///{db}")
    assert code == 0, out
    with sqlite3.connect(db) as con:
        con.execute(
            "UPDATE alembic_version SET version_num = '0099_from_the_future' "
            "WHERE version_num LIKE '00%'"
        )
    code, out = serve(tmp_path, "--migrate-only", DATABASE_URL=f"sqlite:///{db}")
    assert code == 1, out
    assert out.splitlines()[-1].startswith(
        "error: the database is at revision 0099_from_the_future, which "
    ), out
    assert "restore the backup taken before the upgrade" in out and "Traceback" not in out
    migrated = CliRunner().invoke(main_app, ["migrate", "--db", f"sqlite:///{db}"])
    assert migrated.exit_code == 1, migrated.output
    assert "0099_from_the_future, which this release does not know" in migrated.output


def test_a_body_limit_below_one_byte_is_refused_at_start(tmp_path: Path) -> None:
    """It started, and every sign-in then answered 413."""
    code, out = serve(tmp_path, TENANTRY_MAX_BODY_BYTES="-5")
    assert code == 2, out
    assert out.startswith("error: invalid settings: TENANTRY_MAX_BODY_BYTES: ")


@pytest.mark.redis
def test_serve_says_at_start_whether_redis_answers(redis: RedisServer) -> None:
    """A wrong REDIS_URL or password started silently (an outside tester): limits off, or
    every request refused, and jobs waiting in the spool, with no word of it at start-up."""
    assert _redis_state(redis.url, fail_open=True) == f"redis: {redis.url} answers"
    port = redis.url.rsplit(":", 1)[1].split("/")[0]
    wrong = f"redis://:not-the-password@127.0.0.1:{port}/0"  # the test server has none
    said = _redis_state(wrong.replace(f":{port}/", ":1/"), fail_open=False)
    assert said.startswith("warning: Redis at redis://:***@127.0.0.1:1/0 does not answer")
    assert "every request is refused (503)" in said and "not-the-password" not in said
    redis.stop()
    said = _redis_state(redis.url, fail_open=True)
    assert "does not answer (ConnectionError)" in said and "rate limits are off" in said
