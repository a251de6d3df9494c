"""A command's database: a bad URL or an unreachable server ends it in one line, exit 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from tenantry.db import Database

EXIT_BAD_INPUT = 2


def fail(command: str, message: str, *, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print ``tenantry <command>: <message>`` on stderr and exit (2: bad input)."""
    typer.echo(f"tenantry {command}: {message}", err=True)
    raise typer.Exit(code)


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def check_url(url: str, command: str) -> None:
    """Parse ``url`` and load its dialect and driver; every command opening a database
    starts here."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        fail(command, f"bad database URL: {first_line(exc)}")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        fail(command, f"bad database URL: tenantry works on SQLite and PostgreSQL, not {backend}")
    if getattr(dialect, "is_async", False):
        fail(command, f"bad database URL: {parsed.drivername} is async; use postgresql+psycopg://")
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        hint = " (pip install 'tenantry[postgres]')" if backend == "postgresql" else ""
        fail(command, f"bad database URL: no driver for {parsed.drivername}{hint}: {exc}")


def check_output(path: Path, command: str) -> None:
    """Refuse, before any work, a file to write that cannot be: a folder, or in none."""
    if path.is_dir():
        fail(command, f"{path} is a folder: name the file to write")
    if not path.parent.is_dir():
        fail(command, f"there is no folder {path.parent} to write {path.name} in")


@contextmanager
def written_whole(path: Path) -> Iterator[IO[bytes]]:
    """A file to write ``path`` through: it becomes ``path`` only once the block ends well.

    A failed export left half a document at ``path`` (or cut an earlier good one short);
    now ``path`` keeps what it held, and the partial file goes.
    """
    import os
    import tempfile

    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def engine_of(url: str, command: str, **kwargs: Any) -> Engine:
    """:func:`tenantry.db.make_engine` for a command line."""
    from tenantry.db import make_engine

    check_url(url, command)
    return make_engine(url, **kwargs)


def database_of(url: str, command: str) -> Database:
    """A :class:`tenantry.db.Database` for a command line, on a database that exists.

    SQLite creates a missing file on connect: a mistyped path would leave an empty
    database behind and end in "no such table". These commands only read or change
    a migrated database, so a file that is not there is said as such, and not made.
    """
    from sqlalchemy.engine import make_url

    from tenantry.db import Database

    check_url(url, command)
    parsed = make_url(url)
    file = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and file and file != ":memory:":
        path = Path(file[len("file:") :].split("?")[0] if file.startswith("file:") else file)
        if path.parent.is_dir() and not path.exists():
            fail(
                command,
                f"no database at {path} (none was created): check the path, or make one "
                "with `tenantry serve --migrate-only` or `tenantry migrate`",
            )
    return Database(url)


@contextmanager
def reaching(command: str) -> Iterator[None]:
    """Turn a database that cannot be reached or read (missing directory, server down,
    no such table) into one line, exit 2."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except SQLAlchemyError as exc:
        fail(command, f"database error: {first_line(exc)}")
