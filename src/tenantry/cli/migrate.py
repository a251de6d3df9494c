"""``tenantry migrate``: apply the schema migrations to a database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from tenantry.placement import Placements


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
    placements_file: Path | None = typer.Option(
        None,
        "--placements",
        envvar="TENANTRY_PLACEMENTS",
        help="Placement configuration: migrate every dedicated tenant database too.",
    ),
    jobs: int = typer.Option(4, "--jobs", min=1, max=64, help="Tenant databases at once."),
) -> None:
    """Bring the core schema (and, with --app, your app's) to the newest revision.

    With --placements, every dedicated tenant database follows (in parallel, each in a
    transaction of its own: a failing one keeps its revision and is listed; rerun to retry)."""
    from alembic.util import CommandError

    from tenantry.cli.database import engine_of, fail, reaching
    from tenantry.cli.placement import host_dirs_in_use
    from tenantry.migrations.runner import migrate_database
    from tenantry.rls.grants import NotTheOwner

    if app_dir is not None and not (app_dir / "env.py").is_file():
        fail("migrate", f"{app_dir} has no env.py: run `tenantry migrations init {app_dir}` first")
    engine = engine_of(database_url, "migrate")
    sqlite_file = engine.url.database if engine.dialect.name == "sqlite" else None
    if sqlite_file and not sqlite_file.startswith("file:") and sqlite_file != ":memory:":
        folder = Path(sqlite_file).parent
        if not folder.is_dir():  # SQLite makes the file, not its folder: "unable to open"
            fail("migrate", f"no directory {folder} for the database: create it, or check the URL")
    try:
        with reaching("migrate"):
            host_dirs = host_dirs_in_use(engine)  # the server's database: meterbook's too
            applied = migrate_database(engine, host_dirs, app_role=app_role, app_dir=app_dir)
    except (CommandError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except NotTheOwner as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    report_migration(applied, app_role if engine.dialect.name == "postgresql" else None)
    if placements_file is not None:
        from tenantry.db import Database
        from tenantry.placement import PlacementConfigError, Placements, load_config

        try:
            config = load_config(placements_file)
        except PlacementConfigError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1) from None
        db = Database(database_url)
        try:
            placements = Placements(config, db, version_dirs=host_dirs, app_dir=app_dir)
            failed = migrate_placements(placements, jobs=jobs)
        finally:
            db.dispose()
        if failed:
            raise typer.Exit(1)


def migrate_placements(placements: Placements, *, jobs: int = 4) -> int:
    """Migrate every dedicated tenant database with a progress bar; the failures are listed.

    Returns:
        How many databases failed (each kept its revision; a rerun retries them).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from tenantry.placement.upgrade import Outcome, dedicated_locations

    total = len(dedicated_locations(placements.control.engine))
    console = Console(stderr=True)
    failures: list[Outcome] = []
    with Progress(
        "tenant databases", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("migrate", total=total)

        def done(outcome: Outcome) -> None:
            progress.advance(task)
            if not outcome.ok:
                failures.append(outcome)

        placements.migrate_all(jobs=jobs, on_done=done)
    for outcome in failures:
        typer.echo(f"FAILED {outcome.location.describe()}: {outcome.error}", err=True)
    typer.echo(
        f"{total - len(failures)} of {total} tenant database(s) up to date"
        + (f", {len(failures)} failed (left at their revision; rerun to retry)" if failures else "")
    )
    return len(failures)


def report_migration(applied: list[str], granted: str | None) -> None:
    """Say what a migration did: the revisions it applied, the role it granted."""
    if granted:
        typer.echo(f"granted {granted} its privileges")
    if applied:
        typer.echo(f"applied {len(applied)} revision(s): {', '.join(applied)}")
    else:
        typer.echo("schema is up to date")
