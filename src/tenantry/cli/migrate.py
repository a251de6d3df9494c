"""``tenantry migrate``: apply the schema migrations to a database."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)


def migrate(
    database_url: str = typer.Option(..., "--db", envvar="DATABASE_URL", help="Database URL."),
) -> None:
    """Bring the core schema to the newest revision."""
    from tenantry.db import make_engine
    from tenantry.migrations.runner import upgrade

    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    typer.echo("schema is up to date")
