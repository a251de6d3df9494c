"""The ``tenantry`` command: the library's commands plus ``serve``."""

from __future__ import annotations

import typer
from sqlalchemy import func, select

from tenantry.cli.main import app

__all__ = ["app"]


@app.command()
def serve(
    demo: bool = typer.Option(False, "--demo", help="Load demo households on an empty database."),
    host: str | None = typer.Option(None, help="Interface to listen on (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default 8000)."),
    migrate_only: bool = typer.Option(
        False, "--migrate-only", help="Apply every migration (and grants), then exit."
    ),
) -> None:
    """Migrate the database and run the server (SQLite in ./var unless DATABASE_URL is set)."""
    import uvicorn
    from pydantic import ValidationError

    from tenantry.models import User
    from tenantry_server.app import create_app, default_plugins, migrate
    from tenantry_server.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        typer.echo(f"error: invalid settings: {exc.errors()[0]['msg']}", err=True)
        raise typer.Exit(2) from exc
    plugins = default_plugins()
    migrate(settings, plugins)
    if migrate_only:
        typer.echo("schema is up to date")
        return
    server = create_app(settings, plugins)
    tenancy = server.state.tenancy
    if demo:
        with tenancy.db.sessions() as session:
            empty = not session.scalar(select(func.count()).select_from(User))
        lines = (
            [line for p in plugins for line in p.seed_demo(tenancy.db, tenancy)] if empty else []
        )
        bind = f"http://{host or settings.host}:{port or settings.port}"
        typer.echo(f"\ntenantry is starting on {bind}")
        if settings.smtp_url:
            typer.echo("Mail goes out through the SMTP server in TENANTRY_SMTP_URL.")
        else:
            typer.echo(
                f"Mail (sign-up links, resets, invitations): {settings.outbox_dir.resolve()}"
            )
        if lines:
            typer.echo("Demo sign-in details:")
            for line in lines:
                typer.echo(f"  {line}")
        elif not empty:
            typer.echo("The database already has accounts; demo data was loaded on first run.")
        typer.echo("")
    uvicorn.run(server, host=host or settings.host, port=port or settings.port, log_level="info")
