"""``tenantry tenants``: list, purge deleted tenants, export one, import an export document."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from tenantry.db import Database
    from tenantry.plans import Catalogue

group = typer.Typer(help="Tenant lifecycle: list, purge, export, import.", no_args_is_help=True)

# Called before a command that reads or writes tenant tables, so the apps' models are
# mapped (an export and an import walk every mapped tenant table). A host appends its
# own (the server: its plugins); ``--models`` names more modules.
MODEL_LOADERS: list[Callable[[], object]] = []
# The plans a host offers, for an import to check the tenant's plan against (the server:
# TENANTRY_PLANS_FILE, else its plugins' catalogue); ``--plans`` names a file instead.
CATALOGUE_LOADERS: list[Callable[[], Catalogue | None]] = []


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="tenants")


def _fail(message: str) -> NoReturn:
    typer.echo(f"tenantry tenants: {message}", err=True)
    raise typer.Exit(1)


def _catalogue(path: Path | None) -> Catalogue | None:
    """The plans of ``path``, else the host's; ``None`` when neither says (nothing checked).
    Checked as the server checks them, once the models are loaded (a misspelt row quota)."""
    from tenantry.plans import CatalogueError, check_row_limits, load_catalogue

    try:
        if path is not None:
            found: Catalogue | None = load_catalogue(path)
        else:
            found = next((c for c in (load() for load in CATALOGUE_LOADERS) if c), None)
        if found is not None:
            check_row_limits(found)
    except CatalogueError as exc:
        _fail(f"the plans: {exc}")
    return found


def _database(url: str) -> Database:
    from tenantry.cli.database import database_of

    return database_of(url, "tenants")


def _unreachable(exc: Exception) -> NoReturn:
    from tenantry.cli.database import fail, first_line

    fail("tenants", f"database error: {first_line(exc)}")


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


@group.command("list")
def list_(database_url: str = DB_OPTION) -> None:
    """Every tenant: slug, id, status and member count (tab-separated, for scripts)."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from tenantry.models import Membership, Tenant

    db = _database(database_url)
    try:
        with db.sessions() as session:
            rows = session.execute(
                select(Tenant.slug, Tenant.id, Tenant.status, func.count(Membership.user_id))
                .outerjoin(Membership, Membership.tenant_id == Tenant.id)
                .group_by(Tenant.id, Tenant.slug, Tenant.status)
                .order_by(Tenant.slug)
            ).all()
    except SQLAlchemyError as exc:
        _unreachable(exc)
    finally:
        db.dispose()
    for slug, tenant_id, status, members in rows:
        typer.echo(f"{slug}\t{tenant_id}\t{status}\t{members}")


@group.command("purge")
def purge(
    database_url: str = DB_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would go; change nothing."),
    placements_file: Path | None = typer.Option(
        None,
        "--placements",
        envvar="TENANTRY_PLACEMENTS",
        help="Placement configuration: purged tenants' own databases are dropped too.",
    ),
    now: list[str] = typer.Option(
        [],
        "--now",
        metavar="SLUG",
        help="A deleted tenant to purge now, its grace period cut short (repeatable).",
    ),
) -> None:
    """Remove deleted tenants whose grace period is over; a pseudonymous record remains."""
    from functools import partial

    from sqlalchemy.exc import SQLAlchemyError

    from tenantry.errors import TenantryError
    from tenantry.placement import PlacementConfigError, load_config
    from tenantry.placement.purge import dedicated_due, drop_orphans, dropping
    from tenantry.retention import due_for_purge, end_grace, purge_expired

    try:
        config = load_config(placements_file) if placements_file is not None else None
    except PlacementConfigError as exc:
        _fail(exc.message)
    db = _database(database_url)
    if now and dry_run:
        _fail("--now purges at once: it does not go with --dry-run")
    try:
        if now:
            try:
                with db.session() as session:  # all or none of them
                    for slug in now:
                        end_grace(session, slug)
            except TenantryError as exc:
                _fail(f"{exc.message}; nothing was purged")
        with db.session() as session:
            if dry_run:
                due = due_for_purge(session)
                typer.echo(f"{len(due)} tenant(s) due for purge (dry run: nothing changed)")
                for tenant in due:
                    typer.echo(f"  {tenant.id}")
                return
            if config is None and dedicated_due(session):
                _fail("some of these tenants have a database of their own: pass --placements FILE")
            purged = purge_expired(session)
        typer.echo(f"purged {len(purged)} tenant(s)")
        for item in purged:
            typer.echo(f"  {item.tenant_id}")
        if config is not None:  # after the purge committed: never a database still served
            done = drop_orphans(config, db.engine, partial(dropping, config))
            for location in done.dropped:
                typer.echo(f"  dropped the database of a purged tenant: {location.describe()}")
            if done.failed:
                for problem in done.failed:
                    typer.echo(f"error: {problem}", err=True)
                _fail(
                    "the tenants are purged; what is named above stays until the next "
                    "`tenantry tenants purge`, which drops it"
                )
    except SQLAlchemyError as exc:
        _unreachable(exc)
    finally:
        db.dispose()


@group.command("export")
def export(
    slug: str = typer.Argument(..., help="The tenant's slug."),
    database_url: str = DB_OPTION,
    output: Path | None = typer.Option(None, "-o", "--output", help="File (default: stdout)."),
    models: list[str] = MODELS_OPTION,
    placements_file: Path | None = typer.Option(
        None,
        "--placements",
        envvar="TENANTRY_PLACEMENTS",
        help="Placement configuration (a tenant in a database of its own).",
    ),
) -> None:
    """Write one tenant's export document (what ``tenants import`` reads)."""
    import sys

    from sqlalchemy import select

    from tenantry.cli.database import check_output, reaching, written_whole
    from tenantry.context import TenantContext, tenant_scope
    from tenantry.errors import TenantryError
    from tenantry.export import stream_export
    from tenantry.ids import TenantId
    from tenantry.models import Tenant
    from tenantry.roles import Role
    from tenantry.runtime import freeze_startup_objects

    if output is not None:
        check_output(output, "tenants")
    _load_models(models)
    db = _database(database_url)
    try:
        with reaching("tenants"), db.sessions() as session:
            tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
            if tenant_id is not None:
                check_all_mapped(session)
        if tenant_id is None:
            _fail(f"no tenant with the slug {slug!r}")
        ctx = TenantContext(TenantId(tenant_id), None, Role.OWNER)
        freeze_startup_objects()  # a million rows trigger full collections: keep them short
        with (
            reaching("tenants"),
            tenant_scope(ctx),
            _tenant_session(db, tenant_id, placements_file) as session,
        ):
            if output is None:
                for chunk in stream_export(session, tenant_id):
                    sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
            else:
                with written_whole(output) as out:
                    for chunk in stream_export(session, tenant_id):
                        out.write(chunk)
                typer.echo(f"exported {slug} to {output}", err=True)
    except TenantryError as exc:  # a placement naming a server the file lacks, one down
        _fail(f"{exc.message}; nothing exported")
    except ValueError as exc:  # a stored value its column's type cannot read (legacy data)
        _fail(f"a stored value cannot be read as its column's type ({exc}); nothing exported")
    finally:
        db.dispose()


def check_all_mapped(session: Session) -> None:
    """Refuse to export while tables with a ``tenant_id`` have no loaded model: without
    ``--models`` an app's rows were left out of a document that still said "exported"."""
    from tenantry.export import unmapped_tenant_tables

    unmapped = unmapped_tenant_tables(session)
    if unmapped:
        _fail(
            f"the database has tenant tables no loaded model maps: {', '.join(unmapped)}; "
            "their rows would be left out: pass --models with the module that defines "
            "them (e.g. --models myapp.models)"
        )


@contextmanager
def _tenant_session(
    db: Database, tenant_id: uuid.UUID, placements_file: Path | None
) -> Iterator[Session]:
    """A read-only session on the tenant's rows, wherever its placement puts them."""
    from sqlalchemy import select

    from tenantry.models import PlacementKind, TenantPlacement

    if placements_file is None:
        with db.read_sessions() as session:
            kind = session.scalar(
                select(TenantPlacement.kind).where(TenantPlacement.tenant_id == tenant_id)
            )
        if kind == PlacementKind.DEDICATED.value:
            _fail("this tenant has a database of its own: pass --placements FILE")
        with db.read_sessions() as session:
            yield session
        return
    from tenantry.placement import PlacementConfigError, Placements, load_config

    try:
        config = load_config(placements_file)
    except PlacementConfigError as exc:
        _fail(exc.message)
    placements = Placements(config, db)
    try:
        with placements.session(tenant_id, read_only=True) as session:
            yield session
    finally:
        placements.dispose()


@group.command("import")
def import_(
    file: Path = typer.Argument(..., help="An export document (tenants export, GET /api/export)."),
    database_url: str = DB_OPTION,
    models: list[str] = MODELS_OPTION,
    invite_days: int = typer.Option(
        30,
        "--invite-days",
        min=1,
        max=90,
        help="Validity of invites for members without an account.",
    ),
    create_accounts: bool = typer.Option(
        False,
        "--create-accounts",
        help="Create missing accounts without a password (set by a password reset) instead of "
        "inviting: authorship of rows is kept. For moving a whole instance.",
    ),
    plan: str | None = typer.Option(
        None, "--plan", help="The plan the tenant gets here (default: the one it had)."
    ),
    plans_file: Path | None = typer.Option(
        None, "--plans", help="The plans offered here (TOML), if not the server's own."
    ),
) -> None:
    """Recreate a tenant from its export document here: all rows or none, verified."""
    from datetime import timedelta

    from rich.console import Console
    from sqlalchemy.exc import SQLAlchemyError

    from tenantry.errors import TenantryError
    from tenantry.migrate.report import print_verification
    from tenantry.tenant_import import import_tenant

    if plan is not None and not plan.strip():
        _fail("--plan: name a plan (or leave the option out to keep the tenant's own)")
    if file.is_dir():
        _fail(f"{file} is a directory: give the export document's file")
    if not file.is_file():
        _fail(f"no such file: {file}")
    _load_models(models)
    catalogue = _catalogue(plans_file)
    db = _database(database_url)
    console = Console()
    try:
        with db.session() as session:
            result = import_tenant(
                session,
                file.read_bytes(),
                invite_ttl=timedelta(days=invite_days),
                create_accounts=create_accounts,
                plan=plan,
                catalogue=catalogue,
            )
    except TenantryError as exc:
        _fail(exc.message)
    except SQLAlchemyError as exc:
        _unreachable(exc)
    finally:
        db.dispose()
    print_verification(console, result.verification)
    total = sum(result.rows.values())
    # Plain lines (not rich): codes must never be wrapped or styled.
    typer.echo(
        f"imported tenant {result.tenant_id} as {result.slug} on plan {result.plan}: {total} rows"
    )
    for member in result.members:
        if member.status == "matched":
            typer.echo(f"  {member.email}: {member.role}, matched to account {member.user_id}")
        elif member.status == "created":
            typer.echo(
                f"  {member.email}: {member.role}, account {member.user_id} created "
                "(no password yet: a password reset sets one)"
            )
        else:
            typer.echo(
                f"  {member.email}: {member.role}, no account here; invite code "
                f"{member.invite_code} (bound to this address)"
            )
    for person in result.people:  # named by rows, not members (former members, say)
        if person.status == "none":
            typer.echo(
                f"  {person.email}: not a member and no account here: the rows' "
                "references to them are left empty"
            )
        else:
            typer.echo(f"  {person.email}: not a member, account {person.user_id} {person.status}")
