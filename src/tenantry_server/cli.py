"""The ``tenantry`` command: the library's commands plus ``serve``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from sqlalchemy import func, select

from tenantry.cli import placement as placement_cli
from tenantry.cli import tenants as tenants_cli
from tenantry.cli.main import app

if TYPE_CHECKING:
    from tenantry.plans import Catalogue
    from tenantry_server.plugins import Plugin
    from tenantry_server.settings import Settings

__all__ = ["app"]

DEMO_OPERATOR = ("ops@example.com", "demo-operator-2025")  # printed for people trying the demo


def _load_plugins() -> list[Plugin]:
    """The bundled plugins (importing them maps their models); none for the library alone
    (``pip install tenantry`` without the ``server`` extra installs this command too)."""
    try:
        from tenantry_server.app import default_plugins
    except ImportError:
        return []
    return default_plugins()


tenants_cli.MODEL_LOADERS.append(_load_plugins)


def _catalogue() -> Catalogue | None:
    """The plans ``serve`` offers: ``TENANTRY_PLANS_FILE``, else the plugins' catalogue."""
    try:
        from tenantry_server.app import plan_catalogue
        from tenantry_server.settings import Settings
    except ImportError:
        return None
    return plan_catalogue(Settings(), _load_plugins())


tenants_cli.CATALOGUE_LOADERS.append(_catalogue)


def _plugin_migrations() -> list[Path]:
    return [d for p in _load_plugins() for d in p.migrations]


placement_cli.VERSION_DIRS.append(_plugin_migrations)


@app.command()
def serve(
    demo: bool = typer.Option(False, "--demo", help="Load demo households on an empty database."),
    host: str | None = typer.Option(None, help="Interface to listen on (default 127.0.0.1)."),
    port: int | None = typer.Option(None, min=1, max=65535, help="Port (default 8000)."),
    migrate_only: bool = typer.Option(
        False, "--migrate-only", help="Apply every migration (and grants), then exit."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Worker processes (metrics use PROMETHEUS_MULTIPROC_DIR)."
    ),
) -> None:
    """Migrate the database and run the server (SQLite in ./var unless DATABASE_URL is set)."""
    try:
        import uvicorn
        from pydantic import ValidationError

        from tenantry.models import User
        from tenantry.plans import DEFAULT_CATALOGUE, CatalogueError, check_row_limits
        from tenantry_server.app import create_app, default_plugins, migrate, plan_catalogue
        from tenantry_server.settings import Settings, settings_problem
        from tenantry_server.workers import check_free, run_workers
    except ImportError as exc:  # `pip install tenantry` is the library alone
        typer.echo(f"error: the server needs `pip install 'tenantry[server]'` ({exc})", err=True)
        raise typer.Exit(2) from exc

    try:
        settings = Settings()
    except ValidationError as exc:
        typer.echo(f"error: invalid settings: {settings_problem(exc)}", err=True)
        raise typer.Exit(2) from exc
    # --host/--port are the settings too: links in mails point at the address served.
    settings = settings.model_copy(
        update={"host": host or settings.host, "port": port or settings.port}
    )
    plugins = default_plugins()
    from tenantry.errors import TenantryError
    from tenantry.migrations.runner import MigrationRefused

    try:
        catalogue = plan_catalogue(settings, plugins)  # a bad plans file stops here
        check_row_limits(catalogue or DEFAULT_CATALOGUE)  # the plugins' models are imported
        billing = settings.billing_config()
        if billing is not None:  # so does a price naming no plan
            billing.check(catalogue or DEFAULT_CATALOGUE)
    except CatalogueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    from tenantry.cli.database import check_url, fail, reaching

    for url in (settings.database_url, settings.migration_database_url):
        if url:
            check_url(url, "serve")
    address = (host or settings.host, port or settings.port)
    if not migrate_only:  # before anything starts (migrations, demo data, jobs)
        try:
            check_free(*address)
        except OSError as exc:
            fail("serve", f"cannot listen on {address[0]}:{address[1]}: {exc.strerror}")
    typer.echo(_where(settings))
    if settings.redis_url and not migrate_only:
        typer.echo(_redis_state(settings.redis_url, fail_open=settings.rate_limit_fail_open))
    try:
        with reaching("serve"):
            applied = migrate(settings, plugins)
    except TenantryError as exc:  # e.g. a table that cannot be adopted: say which, no traceback
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    except MigrationRefused as exc:  # a newer release's database, rows left referring to none
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:  # e.g. SQLite's directory cannot be created
        fail("serve", f"cannot create the database's directory: {exc}")
    if migrate_only:
        from sqlalchemy import make_url

        from tenantry.cli.migrate import report_migration

        owner = make_url(settings.migration_database_url or settings.database_url)
        postgres = owner.get_backend_name() == "postgresql"
        report_migration(applied, settings.app_role if postgres else None)
        return
    server = create_app(settings, plugins)
    tenancy = server.state.tenancy
    if demo:
        with tenancy.db.sessions() as session:
            empty = not session.scalar(select(func.count()).select_from(User))
            # Seeded by an earlier --demo run: its sign-ins are said again (seeding is
            # idempotent). Any other database with accounts gets no demo data.
            seeded = bool(session.scalar(select(User.id).where(User.email == DEMO_OPERATOR[0])))
        lines = (
            [line for p in plugins for line in p.seed_demo(tenancy.db, tenancy)]
            if empty or seeded
            else []
        )
        bind = f"http://{host or settings.host}:{port or settings.port}"
        if empty:
            from tenantry.platform_admins import create_platform_admin

            with tenancy.db.session() as session:
                create_platform_admin(
                    session, tenancy.passwords, email=DEMO_OPERATOR[0], password=DEMO_OPERATOR[1]
                )
        if empty or seeded:
            lines.append(
                f"Operator console: {bind}/console, sign in as "
                f"{DEMO_OPERATOR[0]} / {DEMO_OPERATOR[1]} (platform admin)"
            )
        token = settings.metrics_bearer()
        lines.append(f"Metrics: curl -H 'Authorization: Bearer {token}' {bind}/metrics")
        typer.echo(f"\ntenantry is starting on {bind}")
        if settings.smtp_url:
            typer.echo("Mail goes out through the SMTP server in TENANTRY_SMTP_URL.")
        else:
            typer.echo(
                f"Mail (sign-up links, resets, invitations): {settings.outbox_dir.resolve()}"
            )
        if not empty and not seeded:
            typer.echo("The database already has accounts: no demo data was loaded.")
        typer.echo("Demo sign-in details:" if empty or seeded else "Details:")
        for line in lines:
            typer.echo(f"  {line}")
        typer.echo("")
    from tenantry_server.logs import configure

    log_config = configure()
    if workers > 1:
        if not settings.redis_url:
            typer.echo(
                f"{workers} workers without REDIS_URL: the tenant cache and queued jobs are"
                f" shared through {settings.data_dir.resolve()}, but each worker counts rate"
                f" limits on its own (a tenant may get up to {workers}x its budget; docs/redis.md)."
            )
        _multiprocess_metrics(settings)
        _share_tenant_concurrency(settings.tenant_concurrency, workers)
        server.state.tenancy.db.dispose()
        config = uvicorn.Config(
            "tenantry_server.app:app_from_environment",
            factory=True,
            workers=workers,
            **_patient_workers(),
            host=address[0],
            port=address[1],
            log_config=log_config,
        )
        with _worker_board(settings.worker_board):
            try:
                run_workers(config)
            except OSError as exc:
                fail("serve", f"cannot listen on {address[0]}:{address[1]}: {exc.strerror}")
        return
    from tenantry.runtime import freeze_startup_objects

    freeze_startup_objects()
    uvicorn.run(
        server, host=host or settings.host, port=port or settings.port, log_config=log_config
    )


def _where(settings: Settings) -> str:
    """The database and data directory this server uses, as absolute paths and without a
    password: with the defaults, a release started from another directory makes new ones."""
    from sqlalchemy import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        url = url.set(database=str(Path(url.database).resolve()))
    shown = url.render_as_string(hide_password=True)
    return f"database: {shown}; data directory: {settings.data_dir.resolve()}"


def _redis_state(url: str, *, fail_open: bool) -> str:
    """Whether Redis answers at start-up, said in one line: a wrong URL or password was
    only noticed in warnings, while limits were off (or every request refused) and jobs
    waited in the spool. Redis may come up later, so this does not stop the server."""
    import redis
    from sqlalchemy import make_url

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:  # a unix:// socket path: nothing to hide
        shown = url
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        then = "every request is refused (503)" if not fail_open else "rate limits are off"
        return (
            f"warning: Redis at {shown} does not answer ({type(exc).__name__}): until it does, "
            f"{then}, and jobs wait in the spool"
        )
    finally:
        client.close()
    return f"redis: {shown} answers"


def _patient_workers() -> dict[str, Any]:
    """Each worker imports and builds the whole app; on a busy machine that can take longer
    than uvicorn's 5 s health check, and its supervisor would kill the workers forever."""
    import inspect

    import uvicorn

    if "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config).parameters:
        return {"timeout_worker_healthcheck": 60}
    return {}


@contextmanager
def _worker_board(given: Path | None) -> Iterator[None]:
    """A board file for the workers' shared fair share (``tenantry.web.board``), in
    shared memory where there is some, removed when the server stops; or the one given."""
    import os
    import tempfile

    from tenantry.web.board import new_board_file

    if given is not None:
        yield
        return
    shm = Path("/dev/shm")  # noqa: S108 - mkstemp makes a private file in it
    board = new_board_file(shm if shm.is_dir() else Path(tempfile.gettempdir()))
    os.environ["TENANTRY_WORKER_BOARD"] = str(board)
    try:
        yield
    finally:
        board.unlink(missing_ok=True)


def _share_tenant_concurrency(total: int, workers: int) -> None:
    """Split the tenant cap over the workers: it bounds a tenant's share of the *server*.

    Each worker enforces its part on its own (no shared state on the request path), so a
    tenant flooding every worker takes ``total`` requests of the machine at most, as it
    would of one worker, rather than ``total`` times the number of workers.
    """
    import os

    os.environ["TENANTRY_TENANT_CONCURRENCY"] = str(max(1, -(-total // workers)))


def _multiprocess_metrics(settings: object) -> None:
    """Workers share metrics through a directory, emptied at start (stale samples lie)."""
    import os
    import shutil
    from pathlib import Path

    data_dir = Path(getattr(settings, "data_dir", "var"))
    directory = Path(
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(data_dir / "prometheus"))
    )
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)


@app.command()
def worker() -> None:
    """Run queued jobs (needs REDIS_URL; without it jobs run inside the server process)."""
    import asyncio

    from pydantic import ValidationError

    from tenantry.jobs import work
    from tenantry_server.app import create_app, default_plugins
    from tenantry_server.settings import Settings, settings_problem

    try:
        settings = Settings()
    except ValidationError as exc:
        typer.echo(f"error: invalid settings: {settings_problem(exc)}", err=True)
        raise typer.Exit(2) from exc
    if not settings.redis_url:
        typer.echo("error: set REDIS_URL: without Redis, jobs run in the server process", err=True)
        raise typer.Exit(2)
    from tenantry.cli.database import database_of, fail, reaching
    from tenantry.migrations.runner import current_heads

    # The server's own database, migrated: a worker started elsewhere without DATABASE_URL
    # made an empty one of its own and failed (and dropped) every job on "no such table".
    db = database_of(settings.database_url, "worker")
    try:
        with reaching("worker"):
            migrated = bool(current_heads(db.engine))
    finally:
        db.dispose()
    if not migrated:
        fail(
            "worker",
            f"{settings.database_url} is not migrated: point DATABASE_URL at the server's "
            "database (`tenantry serve` migrates it)",
        )
    server = create_app(settings, default_plugins())
    typer.echo(f"worker: consuming jobs from {settings.redis_url}")
    try:
        asyncio.run(work(server.state.tenancy.jobs))
    except KeyboardInterrupt:
        typer.echo("worker: stopped")
