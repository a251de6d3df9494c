"""``tenantry admin``: create, grant and revoke platform admins."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

admin = typer.Typer(
    help="Platform admins: the operators who may use the console.", no_args_is_help=True
)
DB = typer.Option(..., "--db", envvar="DATABASE_URL", help="Database URL.")


def register(app: typer.Typer) -> None:
    app.add_typer(admin, name="admin")


def _fail(message: str) -> NoReturn:
    typer.echo(f"tenantry admin: {message}", err=True)
    raise typer.Exit(2)


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
def session_of(url: str) -> Iterator[Session]:
    """A committed session; bad URLs, missing schemas and refused input exit 2, readably."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    from tenantry.db import Database
    from tenantry.errors import TenantryError

    try:
        db = Database(url)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        _fail(f"bad database URL: {exc}")
    try:
        with db.session() as session:
            yield session
    except TenantryError as exc:
        hint = "; use `tenantry admin grant`" if exc.code == "conflict" else ""
        _fail(exc.message + hint)
    except SQLAlchemyError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        _fail(f"database error (is it migrated? `tenantry migrate`): {first}")
    finally:
        db.dispose()
