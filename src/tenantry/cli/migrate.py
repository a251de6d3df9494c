"""``tenantry migrate``: apply the schema migrations to a database."""

from __future__ import annotations

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
) -> None:
    """Bring the core schema to the newest revision."""
    from tenantry.db import make_engine
    from tenantry.migrations.runner import migrate_database

    engine = make_engine(database_url)
    migrate_database(engine, app_role=app_role)
    if app_role and engine.dialect.name == "postgresql":
        typer.echo(f"granted {app_role} its privileges")
    engine.dispose()
    typer.echo("schema is up to date")
