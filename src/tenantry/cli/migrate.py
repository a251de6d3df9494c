"""``tenantry migrate``: apply the schema migrations to a database."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)


def migrate(
    database_url: str = typer.Option(..., "--db", envvar="DATABASE_URL", help="Database URL."),
    app_role: str | None = typer.Option(
        None,
        "--app-role",
        envvar="TENANTRY_APP_ROLE",
        help="PostgreSQL: grant this runtime role its row privileges (run as the owner).",
    ),
    app_dir: Path | None = typer.Option(
        None,
        "--app",
        envvar="TENANTRY_MIGRATIONS",
        help="Your app's migrations (tenantry migrations init), applied after the core's.",
    ),
) -> None:
    """Bring the core schema (and, with --app, your app's) to the newest revision."""
    from alembic.util import CommandError

    from tenantry.cli.database import engine_of, fail, reaching
    from tenantry.migrations.runner import migrate_database

    if app_dir is not None and not (app_dir / "env.py").is_file():
        fail("migrate", f"{app_dir} has no env.py: run `tenantry migrations init {app_dir}` first")
    engine = engine_of(database_url, "migrate")
    try:
        with reaching("migrate"):
            applied = migrate_database(engine, app_role=app_role, app_dir=app_dir)
    except (CommandError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    if app_role and engine.dialect.name == "postgresql":
        typer.echo(f"granted {app_role} its privileges")
    if applied:
        typer.echo(f"applied {len(applied)} revision(s): {', '.join(applied)}")
    else:
        typer.echo("schema is up to date")
