"""``tenantry admin`` and ``tenantry audit prune`` against a migrated database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from typer.testing import CliRunner

from tenantry.cli.main import app
from tenantry.db import Database
from tenantry.models import AuditEvent, User
from tests.support.databases import TestDatabase

PASSWORD = "correct horse battery"


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.output


def is_admin(url: str, email: str) -> bool:
    db = Database(url)
    try:
        with db.session() as session:
            return bool(session.scalar(select(User.is_platform_admin).where(User.email == email)))
    finally:
        db.dispose()


def test_create_grant_revoke_and_list(database: TestDatabase) -> None:
    url = database.owner_url
    code, out = run(
        "admin",
        "create-platform-admin",
        "ops@example.com",
        "--db",
        url,
        stdin=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert code == 0, out
    assert is_admin(url, "ops@example.com")
    code, out = run(
        "admin",
        "create-platform-admin",
        "ops@example.com",
        "--db",
        url,
        stdin=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert code == 2 and "`tenantry admin grant ops@example.com`" in out
    assert out.count("grant") == 1, out  # the advice once
    code, out = run("admin", "revoke", "ops@example.com", "--db", url)
    assert code == 0 and not is_admin(url, "ops@example.com")
    code, out = run("admin", "revoke", "ops@example.com", "--db", url)
    assert code == 0 and "nothing to change" in out
    code, out = run("admin", "grant", "ops@example.com", "--db", url)
    assert code == 0 and is_admin(url, "ops@example.com")
    code, out = run("admin", "list", "--db", url)
    assert "ops@example.com" in out
    code, out = run("admin", "grant", "nobody@example.com", "--db", url)
    assert code == 2 and "no account" in out and "Traceback" not in out


def test_bad_input_is_a_readable_error(database: TestDatabase, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, out = run("admin", "grant", "x@example.com", "--db", "nonsense://")
    assert code == 2 and "Traceback" not in out
    empty = f"sqlite:///{tmp_path}/empty.sqlite3"
    code, out = run("admin", "grant", "x@example.com", "--db", empty)
    assert code == 2 and "migrate" in out


def test_prune_counts_then_deletes_what_is_older_than_the_retention(
    database: TestDatabase,
) -> None:
    db = Database(database.owner_url)
    try:
        with db.session() as session:
            session.add_all(AuditEvent(action=f"test.{n}", details={}) for n in range(5))
            session.flush()
            old = datetime.now(UTC) - timedelta(days=400)
            session.execute(
                update(AuditEvent)
                .where(AuditEvent.action.in_(["test.0", "test.1"]))
                .values(created_at=old)
            )
        code, out = run("audit", "prune", "--db", database.owner_url, "--days", "365")
        assert code == 0 and out.startswith("2 audit events")
        code, out = run("audit", "prune", "--db", database.owner_url, "--days", "365", "--apply")
        assert code == 0 and "deleted 2" in out
        with db.session() as session:
            left = session.scalars(
                select(AuditEvent.action).where(AuditEvent.action.like("test.%"))
            )
            assert sorted(left) == ["test.2", "test.3", "test.4"]
    finally:
        db.dispose()


def test_prune_errors_name_the_audit_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "empty.sqlite3").touch()  # there, but never migrated
    code, out = run("audit", "prune", "--db", f"sqlite:///{tmp_path}/empty.sqlite3")
    assert code == 2
    assert out.startswith("tenantry audit prune: database error") and "admin" not in out
