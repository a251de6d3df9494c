"""Export, backup, delete and purge of a dedicated tenant work as for a shared one."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tenantry.models import Tenant
from tenantry.placement import Placements
from tenantry.placement.move import move_tenant
from tenantry.testing import Member, register
from tenantry_server.cli import app as cli

runner = CliRunner()


def _placements(client: TestClient) -> Placements:
    placements: Placements = client.app.state.tenancy.placements  # type: ignore[attr-defined]
    return placements


def _args(client: TestClient) -> list[str]:
    settings = client.app.state.settings  # type: ignore[attr-defined]
    url = settings.migration_database_url or settings.database_url
    return ["--db", url, "--placements", str(settings.placements_file)]


def _dedicated_alice(client: TestClient) -> tuple[Member, Member]:
    alice = register(client, "alice@example.com", tenant_name="Alice household")
    bob = register(client, "bob@example.com")
    for body in ("first", "second"):
        assert (
            client.post("/api/notes", json={"body": body}, headers=alice.headers).status_code == 201
        )
    assert (
        client.post("/api/notes", json={"body": "bob-private"}, headers=bob.headers).status_code
        == 201
    )
    move_tenant(_placements(client), uuid.UUID(alice.tenant_id), to="dedicated")
    return alice, bob


def _slug(client: TestClient, member: Member) -> str:
    slug: str = client.get("/api/tenant", headers=member.headers).json()["slug"]
    return slug


def test_export_of_a_dedicated_tenant(client: TestClient) -> None:
    alice, _bob = _dedicated_alice(client)
    doc = client.get("/api/export", headers=alice.headers).json()
    assert sorted(n["body"] for n in doc["tables"]["app_notes"]) == ["first", "second"]
    slug = _slug(client, alice)
    args = _args(client)
    out = runner.invoke(cli, ["tenants", "export", slug, *args])
    assert out.exit_code == 0, out.output
    cli_doc = orjson.loads(out.stdout_bytes)
    assert sorted(n["body"] for n in cli_doc["tables"]["app_notes"]) == ["first", "second"]
    assert "bob-private" not in out.output
    # Without the placements, the export refuses rather than export nothing.
    blind = runner.invoke(cli, ["tenants", "export", slug, *args[:2]])
    assert blind.exit_code == 1
    assert "database of its own: pass --placements" in blind.output


def test_backup_copies_a_dedicated_tenant(client: TestClient, tmp_path: Path) -> None:
    alice, bob = _dedicated_alice(client)
    target = tmp_path / "alice.backup"
    done = runner.invoke(
        cli, ["tenants", "backup", _slug(client, alice), "-o", str(target), *_args(client)]
    )
    assert done.exit_code == 0, done.output
    assert "backed up" in done.output
    assert target.stat().st_size > 0
    where = _placements(client).config.server(next(iter(_placements(client).config.servers)))
    if where.is_sqlite:  # the copy is a SQLite database with her rows, and only hers
        with sqlite3.connect(target) as conn:
            bodies = sorted(r[0] for r in conn.execute("SELECT body FROM app_notes"))
        assert bodies == ["first", "second"]
    else:
        assert target.read_bytes()[:5] == b"PGDMP"
    # A shared tenant's backup is its export document.
    shared = tmp_path / "bob.json"
    bob_done = runner.invoke(
        cli, ["tenants", "backup", _slug(client, bob), "-o", str(shared), *_args(client)]
    )
    assert bob_done.exit_code == 0, bob_done.output
    assert [n["body"] for n in orjson.loads(shared.read_bytes())["tables"]["app_notes"]] == [
        "bob-private"
    ]


def test_delete_and_purge_drop_a_dedicated_tenants_database(client: TestClient) -> None:
    alice, bob = _dedicated_alice(client)
    placements = _placements(client)
    tenant_id = uuid.UUID(alice.tenant_id)
    from tenantry.placement.backup import tenant_location

    where = tenant_location(placements, tenant_id)
    deleted = client.delete("/api/tenant?confirm=Alice household", headers=alice.headers)
    assert deleted.status_code == 204
    assert (
        client.get("/api/notes", headers=alice.headers).json()["error"]["code"] == "tenant_deleted"
    )
    with placements.control.session() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.purge_after = datetime.now(UTC) - timedelta(seconds=1)
    args = _args(client)
    blind = runner.invoke(cli, ["tenants", "purge", *args[:2]])
    assert blind.exit_code == 1 and "pass --placements" in blind.output
    done = runner.invoke(cli, ["tenants", "purge", *args])
    assert done.exit_code == 0, done.output
    assert f"dropped the database of a purged tenant: {where.describe()}" in done.output
    server = placements.config.server(where.server or "")
    if server.is_sqlite:
        assert not (server.directory / f"{where.database}.sqlite3").exists()
    assert client.get("/api/notes", headers=bob.headers).status_code == 200


def test_a_purged_tenants_database_left_behind_is_reported_and_dropped_by_the_next_purge(
    client: TestClient, tmp_path: Path
) -> None:
    """A drop that failed (its server down) left the database with nothing tracking it:
    the next purge said "purged 0" and doctor found nothing. A database another deployment
    keeps on the same server is named alike and is left alone."""
    alice, _bob = _dedicated_alice(client)
    placements = _placements(client)
    tenant_id = uuid.UUID(alice.tenant_id)
    from tenantry.placement import provision
    from tenantry.placement.backup import tenant_location
    from tenantry.placement.location import database_name

    where = tenant_location(placements, tenant_id)
    server = placements.config.server(where.server or "")
    assert client.delete("/api/tenant?confirm=Alice household", headers=alice.headers).is_success
    with placements.control.session() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.purge_after = datetime.now(UTC) - timedelta(seconds=1)
    args = _args(client)
    assert runner.invoke(cli, ["tenants", "purge", *args]).exit_code == 0
    # What a failed drop leaves (the tenant gone, its database there), and a stranger's.
    stranger = database_name(uuid.uuid4())
    for name in (str(where.database), stranger):
        provision.create_database(server, name)
        if server.is_sqlite:
            sqlite3.connect(server.directory / f"{name}.sqlite3").close()
    doctor = runner.invoke(cli, ["doctor", *args])
    assert doctor.exit_code == 1, doctor.output
    assert f"{tenant_id} ({where.describe()}): its tenant was purged" in doctor.output
    assert stranger not in doctor.output
    again = runner.invoke(cli, ["tenants", "purge", *args])
    assert again.exit_code == 0, again.output
    assert "purged 0 tenant(s)" in again.output
    assert f"dropped the database of a purged tenant: {where.describe()}" in again.output
    left = provision.tenant_databases(server)  # other tests' may be there too
    assert str(where.database) not in left and stranger in left
    assert runner.invoke(cli, ["doctor", *args]).exit_code == 0
    provision.drop_database(server, stranger)
    # A server that cannot be asked: a clear error, exit 1, and no traceback.
    toml = tmp_path / "with-a-server-down.toml"
    down = "postgresql+psycopg://nobody:x@127.0.0.1:1/nothing"
    toml.write_text(Path(args[3]).read_text() + f'[servers."down"]\nurl = "{down}"\n')
    failed = runner.invoke(cli, ["tenants", "purge", *args[:2], "--placements", str(toml)])
    assert failed.exit_code == 1, failed.output
    assert "server 'down' could not be asked" in failed.output
    assert failed.exception is None or isinstance(failed.exception, SystemExit)


def test_a_job_of_a_dedicated_tenant_writes_to_its_database(client: TestClient) -> None:
    alice, bob = _dedicated_alice(client)
    queued = client.post("/api/notes/later", json={"body": "from a job"}, headers=alice.headers)
    assert queued.status_code == 202, queued.text
    for _ in range(200):  # the in-process worker runs it soon
        bodies = sorted(n["body"] for n in client.get("/api/notes", headers=alice.headers).json())
        if "from a job" in bodies:
            break
        import time

        time.sleep(0.05)
    assert bodies == ["first", "from a job", "second"]
    assert [n["body"] for n in client.get("/api/notes", headers=bob.headers).json()] == [
        "bob-private"
    ]


def test_the_purge_job_drops_a_dedicated_tenants_database(client: TestClient) -> None:
    alice, _bob = _dedicated_alice(client)
    placements = _placements(client)
    tenant_id = uuid.UUID(alice.tenant_id)
    from tenantry.placement.backup import tenant_location

    where = tenant_location(placements, tenant_id)
    server = placements.config.server(where.server or "")
    assert (
        client.delete("/api/tenant?confirm=Alice household", headers=alice.headers).status_code
        == 204
    )
    with placements.control.session() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.purge_after = datetime.now(UTC) - timedelta(seconds=1)
    tenancy = client.app.state.tenancy  # type: ignore[attr-defined]
    url = placements.url_of(where)
    assert url in placements.engines  # Alice's requests made it
    with tenancy.db.session() as session:
        purged = tenancy.jobs._platform["tenantry.purge"](session)
        assert [p.tenant_id for p in purged] == [tenant_id]
        if server.is_sqlite:  # not before the purge commits
            assert (server.directory / f"{where.database}.sqlite3").exists()
    assert url not in placements.engines  # no pool left on a dropped database
    if server.is_sqlite:
        assert not (server.directory / f"{where.database}.sqlite3").exists()
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        admin = make_url(server.admin_url or "").set(drivername="postgresql")
        with psycopg.connect(admin.render_as_string(hide_password=False)) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (where.database,)
            ).fetchone()
        assert found is None


def test_a_relative_sqlite_server_is_relative_to_the_placements_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server and the CLI may run from different directories: both read the same
    files, those next to the placements file."""
    from tenantry.placement import load_config

    etc = tmp_path / "etc"
    etc.mkdir()
    toml = etc / "placements.toml"
    toml.write_text('default = "dedicated"\n[servers.files]\nurl = "sqlite:///var/tenants"\n')
    monkeypatch.chdir(tmp_path)
    assert load_config(toml).server("files").directory == etc / "var" / "tenants"
    absolute = tmp_path / "abs"
    toml.write_text(f'[servers.files]\nurl = "sqlite:///{absolute}"\n')
    assert load_config(toml).server("files").directory == absolute


def test_a_misspelt_key_of_the_placements_file_is_refused(tmp_path: Path) -> None:
    from tenantry.placement import PlacementConfigError, load_config

    toml = tmp_path / "placements.toml"
    for text in ('defualt = "dedicated"\n', '[server.files]\nurl = "sqlite:///x"\n'):
        toml.write_text(text)
        with pytest.raises(PlacementConfigError, match="unknown key"):
            load_config(toml)


def test_placement_commands_with_a_server_down_or_missing_say_so_in_one_line(
    client: TestClient, tmp_path: Path
) -> None:
    """Each was a traceback: a move to a server that is down, the control database
    unreachable, an export whose placement names a server the file lacks."""
    alice, _bob = _dedicated_alice(client)
    slug = _slug(client, alice)
    args = _args(client)
    down = "postgresql+psycopg://nobody:x@127.0.0.1:1/nothing"
    toml = tmp_path / "with-a-server-down.toml"
    toml.write_text(Path(args[3]).read_text() + f'[servers."down"]\nurl = "{down}"\n')
    answers = {
        "move": runner.invoke(
            cli,
            [
                "tenants",
                "move",
                slug,
                "--to",
                "dedicated",
                "--server",
                "down",
                *args[:2],
                "--placements",
                str(toml),
            ],
        ),
        "control down": runner.invoke(
            cli, ["tenants", "placements", "--db", down, "--placements", args[3]]
        ),
    }
    lacking = tmp_path / "lacking.toml"
    lacking.write_text(f'[servers."other"]\nurl = "sqlite:///{tmp_path / "other"}"\n')
    answers["export"] = runner.invoke(
        cli, ["tenants", "export", slug, *args[:2], "--placements", str(lacking)]
    )
    for name, answer in answers.items():
        assert answer.exit_code in (1, 2), (name, answer.output)
        assert answer.exception is None or isinstance(answer.exception, SystemExit), name
        assert "Traceback" not in answer.output, name
    if args[1].startswith("postgresql"):  # SQLite tenants are not moved to a server
        assert "server 'down' cannot be reached" in answers["move"].output
    assert f"{slug} is served from where it was" in answers["move"].output
    assert "database error" in answers["control down"].output
    assert "nothing exported" in answers["export"].output
