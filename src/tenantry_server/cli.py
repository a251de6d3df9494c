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
    workers: int = typer.Option(
        1, "--workers", min=1, help="Worker processes (production: one or two per core)."
    ),
) -> None:
    """Migrate the database and run the server (SQLite in ./var unless DATABASE_URL is set).

    Each worker builds its app from the environment (``tenantry_server.asgi``);
    migrations, demo data and the generated signing key are done once, here.
    """
    import uvicorn
    from pydantic import ValidationError

    from tenantry.models import User
    from tenantry_server.app import create_app, default_plugins, migrate
    from tenantry_server.asgi import FACTORY
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
    settings.signing_key()  # generated once here, so every worker signs with the same key
    if demo:
        tenancy = create_app(settings, plugins).state.tenancy
        with tenancy.db.sessions() as session:
            empty = not session.scalar(select(func.count()).select_from(User))
        lines = (
            [line for p in plugins for line in p.seed_demo(tenancy.db, tenancy)] if empty else []
        )
        bind = f"http://{host or settings.host}:{port or settings.port}"
        typer.echo(f"\ntenantry is starting on {bind}")
        if lines:
            typer.echo("Demo sign-in details:")
            for line in lines:
                typer.echo(f"  {line}")
        elif not empty:
            typer.echo("The database already has accounts; demo data was loaded on first run.")
        typer.echo("")
        tenancy.db.dispose()
    uvicorn.run(
        FACTORY,
        factory=True,
        workers=workers,
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        # A worker imports the whole server before it answers uvicorn's health ping; on a
        # busy host that takes longer than uvicorn's 5 s default, which kills it at birth.
        timeout_worker_healthcheck=60,
    )
