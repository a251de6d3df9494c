"""``tenantry tenants move`` and ``tenants backup``: a tenant's placement from the command line."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tenantry.cli.tenants import DB_OPTION, MODELS_OPTION, _database, _fail, _load_models, group

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from tenantry.placement import Placements

# A host's migration directories (the server: its plugins'), applied to new tenant databases.
VERSION_DIRS: list[Callable[[], Sequence[Path]]] = []

PLACEMENTS_OPTION = typer.Option(
    ...,
    "--placements",
    envvar="TENANTRY_PLACEMENTS",
    help="Placement configuration (servers and policy, TOML).",
)
APP_OPTION = typer.Option(
    None,
    "--app",
    envvar="TENANTRY_MIGRATIONS",
    help="Your app's migrations directory, applied to a new tenant database.",
)


def host_dirs_in_use(engine: Engine) -> list[Path]:
    """The host's migration directories that the database at ``engine`` was made with:
    applied to its new tenant databases, and when it is migrated (``dirs_in_use``)."""
    from tenantry.migrations.runner import dirs_in_use

    return dirs_in_use(engine, [d for loader in VERSION_DIRS for d in loader()])


def register(app: typer.Typer) -> None:
    """The commands attach to the ``tenants`` group on import."""


@contextmanager
def _placements(
    database_url: str, placements_file: Path, app_dir: Path | None
) -> Iterator[Placements]:
    from tenantry.cli.database import reaching
    from tenantry.placement import PlacementConfigError, Placements, load_config

    try:
        config = load_config(placements_file)
    except PlacementConfigError as exc:
        _fail(exc.message)
    db = _database(database_url)
    try:
        with reaching("tenants"):  # a control database down or not migrated: one line
            dirs = host_dirs_in_use(db.engine)
    except BaseException:
        db.dispose()
        raise
    placements = Placements(config, db, version_dirs=dirs, app_dir=app_dir)
    try:
        with reaching("tenants"):
            yield placements
    finally:
        placements.dispose()
        db.dispose()


def _tenant_id(placements: Placements, slug: str) -> object:
    from sqlalchemy import select

    from tenantry.models import Tenant

    with placements.control.read_sessions() as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if tenant_id is None:
        _fail(f"no tenant with the slug {slug!r}")
    return tenant_id


@group.command("move")
def move(
    slug: str = typer.Argument(..., help="The tenant's slug."),
    to: str = typer.Option(..., "--to", help="shared or dedicated."),
    server: str | None = typer.Option(
        None, "--server", help="Dedicated: the server (default: the least-loaded)."
    ),
    database_url: str = DB_OPTION,
    placements_file: Path = PLACEMENTS_OPTION,
    app_dir: Path | None = APP_OPTION,
    models: list[str] = MODELS_OPTION,
) -> None:
    """Move a tenant between the shared tables and a database of its own.

    Copies, verifies (counts and checksums), switches in one transaction, then removes
    the old copy. The tenant is read-only while its rows are copied. Safe to interrupt:
    run the same command again to finish.
    """
    import uuid

    from rich.console import Console
    from sqlalchemy.exc import SQLAlchemyError

    from tenantry.errors import TenantryError
    from tenantry.placement.moves import move_from_command_line

    if to not in ("shared", "dedicated"):
        _fail(f"--to must be 'shared' or 'dedicated', not {to!r}")
    if server is not None and to == "shared":
        _fail("--server names a server for a dedicated database; leave it out with --to shared")
    _load_models(models)
    console = Console(stderr=True)
    with _placements(database_url, placements_file, app_dir) as placements:
        tenant_id = _tenant_id(placements, slug)
        assert isinstance(tenant_id, uuid.UUID)
        try:
            with console.status(f"moving {slug}") as status:
                report = move_from_command_line(
                    placements,
                    tenant_id,
                    to=to,
                    server=server,
                    on_step=lambda name: status.update(f"moving {slug}: {name}"),
                )
        except TenantryError as exc:
            _fail(f"{exc.message} ({slug} is served from where it was)")
        except SQLAlchemyError as exc:
            _fail(f"database error: {str(exc).splitlines()[0]} (run the move again to finish)")
    if report.already_there and report.cleared:
        typer.echo(f"{slug} stays {report.target.describe()}; removed copies nothing served:")
        for stray in report.cleared:
            typer.echo(f"  {stray.describe()} (left by an interrupted move)")
        return
    if report.already_there:
        typer.echo(f"{slug} is already {report.target.describe()}")
        return
    typer.echo(
        f"moved {slug}: {report.source.describe()} -> {report.target.describe()}: "
        f"{report.total_rows} rows ({report.rows_per_second:,.0f} rows/s), "
        f"read-only for {report.read_only_seconds:.2f} s"
        + (" (resumed an interrupted move)" if report.resumed else "")
    )
    for table, rows in sorted(report.rows.items()):
        typer.echo(f"  {table}: {rows} rows, counts and checksums equal")


@group.command("placements")
def list_placements(
    database_url: str = DB_OPTION, placements_file: Path = PLACEMENTS_OPTION
) -> None:
    """Every tenant's placement: slug, placement, state (tab-separated)."""
    from sqlalchemy import select

    from tenantry.models import Tenant, TenantPlacement

    with (
        _placements(database_url, placements_file, None) as placements,
        placements.control.read_sessions() as session,
    ):
        rows = session.execute(
            select(
                Tenant.slug,
                TenantPlacement.kind,
                TenantPlacement.server,
                TenantPlacement.database,
                TenantPlacement.state,
            )
            .outerjoin(TenantPlacement, TenantPlacement.tenant_id == Tenant.id)
            .order_by(Tenant.slug)
        ).all()
    for slug, kind, server, database, state in rows:
        where = f"dedicated\t{server}/{database}" if kind == "dedicated" else "shared\t-"
        typer.echo(f"{slug}\t{where}\t{state or 'active'}")


@group.command("backup")
def backup(
    slug: str = typer.Argument(..., help="The tenant's slug."),
    output: Path = typer.Option(..., "-o", "--output", help="The backup file to write."),
    database_url: str = DB_OPTION,
    placements_file: Path | None = typer.Option(
        None,
        "--placements",
        envvar="TENANTRY_PLACEMENTS",
        help="Placement configuration; without it every tenant is shared.",
    ),
    models: list[str] = MODELS_OPTION,
) -> None:
    """Back one tenant up: its SQLite file (copied consistently while it serves), a pg_dump
    of its PostgreSQL database, or, for a shared tenant, its export document."""
    import uuid

    from tenantry.cli.database import check_output, written_whole
    from tenantry.cli.tenants import check_all_mapped, export
    from tenantry.errors import TenantryError
    from tenantry.export import stream_export
    from tenantry.placement.backup import backup_dedicated, tenant_location

    if placements_file is None:  # no placement set-up: the tenant is shared
        export(slug, database_url, output, models, None)
        return
    check_output(output, "tenants")
    _load_models(models)
    with _placements(database_url, placements_file, None) as placements:
        tenant_id = _tenant_id(placements, slug)
        assert isinstance(tenant_id, uuid.UUID)
        location = tenant_location(placements, tenant_id)
        if location.is_shared:
            with placements.control.read_sessions() as session:
                check_all_mapped(session)
            with (
                placements.session(tenant_id, read_only=True) as session,
                written_whole(output) as out,
            ):
                for chunk in stream_export(session, tenant_id):
                    out.write(chunk)
            typer.echo(f"{slug} is shared: wrote its export document to {output}")
            return
        try:
            what = backup_dedicated(placements, location, output)
        except TenantryError as exc:
            _fail(exc.message)
    typer.echo(f"backed up {slug} ({location.describe()}): {what}")
