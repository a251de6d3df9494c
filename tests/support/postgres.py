"""A throwaway PostgreSQL cluster for one pytest session, started from the system binaries.

The cluster lives in a temporary directory, listens only on a unix socket there
(no port to collide with), and runs with durability switched off: it is thrown
away at the end. PostgreSQL refuses to run as root, so as root the server runs
as the unprivileged ``postgres`` user (created if missing).

Two login roles are created, the shape the product expects in production:

* ``tenantry_owner`` owns every database and runs migrations and maintenance;
* ``tenantry_app`` is what the application connects as: not a superuser, no
  BYPASSRLS, owns nothing, and gets only the grants of :mod:`tenantry.rls.grants`.

``TENANTRY_TEST_PG_ADMIN_URL`` (a role that may create roles and databases, e.g.
``postgresql://postgres@db-host/postgres``) makes the session use that server
instead of starting one.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

OWNER_ROLE = "tenantry_owner"
APP_ROLE = "tenantry_app"
ADMIN_URL_ENV = "TENANTRY_TEST_PG_ADMIN_URL"
_SERVER_USER = "postgres"
_FAST = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "listen_addresses": "",
    # The bench's two-worker PostgreSQL rows hold up to 2 x 15 connections (the
    # hand-written app on SQLAlchemy's default pool) beside tenantry's 2 x 10: at 50 the
    # hand-written app's 16 wrk connections ran into "too many connections" (500s).
    "max_connections": "100",
    "shared_buffers": "32MB",
    "log_min_messages": "warning",
}


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries were found and no server was given."""


def find_bindir() -> Path:
    """The directory of ``initdb`` and ``postgres``: ``$TENANTRY_PG_BINDIR``, the newest
    ``/usr/lib/postgresql/*/bin`` (Debian), else ``$PATH``."""
    explicit = os.environ.get("TENANTRY_PG_BINDIR")
    candidates = [Path(explicit)] if explicit else []
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += [Path(p) for p in debian]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "postgres").exists():
            return bindir
    raise PostgresUnavailable(
        "PostgreSQL binaries not found (looked in $TENANTRY_PG_BINDIR, "
        "/usr/lib/postgresql/*/bin and $PATH): install the 'postgresql' package, "
        f"set {ADMIN_URL_ENV}, or deselect these tests with -m 'not postgres'"
    )


@dataclass
class PostgresServer:
    """A server with the owner and app roles; hands out fresh databases."""

    admin_url: URL
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, role: str, database: str) -> str:
        """A ``postgresql+psycopg://`` URL for ``role`` on ``database``."""
        url = self.admin_url.set(drivername="postgresql+psycopg", username=role, database=database)
        return url.render_as_string(hide_password=False)

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        url = self.admin_url.set(drivername="postgresql")
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)

    def create_roles(self) -> None:
        with self._admin() as conn:
            for role in (OWNER_ROLE, APP_ROLE):
                exists = conn.execute(
                    "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)
                ).fetchone()
                verb = "ALTER" if exists else "CREATE"
                conn.execute(
                    sql.SQL(
                        "{} ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                    ).format(sql.SQL(verb), sql.Identifier(role))
                )

    def create_database(self, *, template: str | None = None, grant: bool = True) -> str:
        """Create an empty database owned by the owner role (or a copy of ``template``).

        With ``grant``, the owner's default privileges grant the app role its rights
        on every table the owner creates later, so migrations need not know the app role.
        """
        name = f"tenantry_t{os.getpid()}_{next(self._names)}"
        with self._admin() as conn:
            query = sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE {}").format(
                sql.Identifier(name),
                sql.Identifier(OWNER_ROLE),
                sql.Identifier(template or "template1"),
            )
            if conn.info.server_version >= 150000:
                # Copying files beats WAL-logging every page of a small database.
                query += sql.SQL(" STRATEGY FILE_COPY")
            conn.execute(query)
        if template is None and grant:
            self._grant(name)
        return name

    def _grant(self, database: str) -> None:
        from sqlalchemy import create_engine

        from tenantry.rls.grants import grant_app_role

        engine = create_engine(self.url(OWNER_ROLE, database))
        with engine.begin() as conn:
            grant_app_role(conn, APP_ROLE)
        engine.dispose()

    def drop_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _run(cmd: list[str], user: str | None) -> None:
    result = subprocess.run(cmd, user=user, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed:\n{result.stdout}\n{result.stderr}")


def _server_user() -> str | None:
    """``postgres`` when running as root (created if missing); else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(_SERVER_USER)
    except KeyError:
        _run(["useradd", "--system", "--no-create-home", _SERVER_USER], None)
    return _SERVER_USER


@contextlib.contextmanager
def local_postgres(port: int | None = None) -> Iterator[PostgresServer]:
    """Start a throwaway cluster; stop it and delete its files on exit.

    ``port`` names its socket (``.s.PGSQL.<port>``): a second cluster on another port
    is a second server for the placement tests (tenants spread over two servers).
    """
    bindir = find_bindir()
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="tenantry-pg-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        data = root / "data"
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            ],
            user,
        )
        settings = {**_FAST, "unix_socket_directories": str(root)}
        if port is not None:
            settings["port"] = str(port)
        args = [str(bindir / "postgres"), "-D", str(data)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        log = open(root / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
        proc = subprocess.Popen(args, user=user, stdout=log, stderr=subprocess.STDOUT)
        query = {"host": str(root)} | ({"port": str(port)} if port is not None else {})
        admin = URL.create("postgresql", username="postgres", database="postgres", query=query)
        _wait_ready(admin, proc, root / "server.log")
        server = PostgresServer(admin)
        server.create_roles()
        yield server
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)  # "fast" shutdown: ends open sessions too
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(admin: URL, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    dsn = admin.render_as_string(hide_password=False)
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"postgres exited at startup:\n{log.read_text(errors='replace')}")
        try:
            psycopg.connect(dsn, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def second_postgres_server() -> Iterator[PostgresServer]:
    """Another server for tests that spread tenants over two (``$TENANTRY_TEST_PG_ADMIN_URL_2``,
    else a local throwaway cluster on port 5433)."""
    given = os.environ.get(ADMIN_URL_ENV + "_2")
    if given:
        server = PostgresServer(make_url(given))
        server.create_roles()
        yield server
        return
    with local_postgres(port=5433) as server:
        yield server


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """The server of ``$TENANTRY_TEST_PG_ADMIN_URL`` if set, else a local throwaway one."""
    given = os.environ.get(ADMIN_URL_ENV)
    if given:
        server = PostgresServer(make_url(given))
        server.create_roles()
        yield server
        return
    with local_postgres() as server:
        yield server
