"""``tenantry tenants``: purge deleted tenants, export one, import an export document."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from tenantry.db import Database

group = typer.Typer(help="Tenant lifecycle: purge, export, import.", no_args_is_help=True)

# Called before a command that reads or writes tenant tables, so the apps' models are
# mapped (an export and an import walk every mapped tenant table). A host appends its
# own (the server: its plugins); ``--models`` names more modules.
MODEL_LOADERS: list[Callable[[], object]] = []


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="tenants")


def _fail(message: str) -> NoReturn:
    typer.echo(f"tenantry tenants: {message}", err=True)
    raise typer.Exit(1)


def _database(url: str) -> Database:
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from tenantry.db import Database

    try:
        return Database(url)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        _fail(f"bad database URL: {str(exc).splitlines()[0]}")


def _load_models(modules: Sequence[str]) -> None:
    for loader in MODEL_LOADERS:
        loader()
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            _fail(f"cannot import models module {name!r}: {exc}")


DB_OPTION = typer.Option(..., "--db", envvar="DATABASE_URL", help="Database URL.")
MODELS_OPTION = typer.Option(
    [], "--models", help="Import this module first so its tenant tables are known (repeatable)."
)


@group.command("purge")
def purge(
    database_url: str = DB_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would go; change nothing."),
) -> None:
    """Remove deleted tenants whose grace period is over; a pseudonymous record remains."""
    from datetime import UTC, datetime

    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from tenantry.models import Tenant, TenantStatus
    from tenantry.retention import purge_expired

    db = _database(database_url)
    try:
        with db.session() as session:
            if dry_run:
                due = session.scalars(
                    select(Tenant.id).where(
                        Tenant.status == TenantStatus.DELETED.value,
                        Tenant.purge_after <= datetime.now(UTC),
                    )
                ).all()
                typer.echo(f"{len(due)} tenant(s) due for purge (dry run: nothing changed)")
                for tenant_id in due:
                    typer.echo(f"  {tenant_id}")
                return
            purged = purge_expired(session)
        typer.echo(f"purged {len(purged)} tenant(s)")
        for item in purged:
            typer.echo(f"  {item.tenant_id}")
    except SQLAlchemyError as exc:
        _fail(f"database error: {str(exc).splitlines()[0]}")
    finally:
        db.dispose()
