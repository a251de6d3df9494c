"""``tenantry admin``: create, grant and revoke platform admins."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

admin = typer.Typer(
    help="Platform admins: the operators who may use the console.", no_args_is_help=True
)
DB = typer.Option(..., "--db", envvar="DATABASE_URL", help="Database URL.")


def register(app: typer.Typer) -> None:
    app.add_typer(admin, name="admin")


@admin.command("create-platform-admin")
def create_platform_admin(
    email: str = typer.Argument(..., help="The new operator's email."),
    database_url: str = DB,
    password: str = typer.Option(
        ...,
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="TENANTRY_ADMIN_PASSWORD",
    ),
) -> None:
    """Create an account that is a platform admin (it gets a small tenant to sign in with)."""
    from tenantry.platform_admins import create_platform_admin as create
    from tenantry.security.passwords import Passwords

    with session_of(database_url) as session:
        user = create(session, Passwords(), email=email, password=password)
        typer.echo(f"created platform admin {user.email} (user {user.id})")


@admin.command("grant")
def grant(email: str = typer.Argument(...), database_url: str = DB) -> None:
    """Make an existing account a platform admin."""
    _set(database_url, email, grant=True)


@admin.command("revoke")
def revoke(email: str = typer.Argument(...), database_url: str = DB) -> None:
    """Take the platform-admin right away; it takes effect on the account's next request."""
    _set(database_url, email, grant=False)


@admin.command("list")
def list_admins(database_url: str = DB) -> None:
    """Print every platform admin."""
    from tenantry.platform_admins import platform_admins

    with session_of(database_url) as session:
        users = platform_admins(session)
        for user in users:
            typer.echo(f"{user.id}\t{user.email}")
        if not users:
            typer.echo("no platform admins")


def _set(database_url: str, email: str, *, grant: bool) -> None:
    from tenantry.platform_admins import set_platform_admin

    with session_of(database_url) as session:
        changed = set_platform_admin(session, email=email, grant=grant)
    word = "granted to" if grant else "revoked from"
    typer.echo(f"platform admin {word} {email}" if changed else f"{email}: nothing to change")


@contextmanager
def session_of(url: str, command: str = "admin") -> Iterator[Session]:
    """A committed session; bad URLs, missing schemas and refused input exit 2, readably.

    ``command`` names the command in its error lines (``tenantry <command>: ...``).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from tenantry.cli.database import database_of, fail, first_line
    from tenantry.errors import TenantryError

    db = database_of(url, command)
    try:
        with db.session() as session:
            yield session
    except TenantryError as exc:
        fail(command, exc.message)
    except SQLAlchemyError as exc:
        fail(command, f"database error (is it migrated? `tenantry migrate`): {first_line(exc)}")
    finally:
        db.dispose()
