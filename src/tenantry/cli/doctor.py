"""``tenantry doctor``: check a live schema for tenant isolation; optionally print Citus DDL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from tenantry.doctor import Report
    from tenantry.placement import PlacementConfig

EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    database_url: str = typer.Option(..., "--db", envvar="DATABASE_URL", help="Database URL."),
    app_role: str | None = typer.Option(
        None, "--app-role", envvar="TENANTRY_APP_ROLE", help="Runtime role to vet (PostgreSQL)."
    ),
    schema: str | None = typer.Option(None, "--schema", help="Schema of the app's tables."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    citus: bool = typer.Option(
        False, "--citus", help="Print the Citus DDL on stdout (the report goes to stderr)."
    ),
    placements_file: Path | None = typer.Option(
        None,
        "--placements",
        envvar="TENANTRY_PLACEMENTS",
        help="Placement configuration: check every tenant database too.",
    ),
) -> None:
    """Report every tenant table lacking tenant_id NOT NULL, a tenant index, composite keys
    or (PostgreSQL) forced RLS with the tenant policy. Exit 1 on findings, 2 on bad input."""
    from sqlalchemy.exc import SQLAlchemyError

    from tenantry.citus import citus_ddl
    from tenantry.cli.placement import host_dirs_in_use
    from tenantry.doctor import diagnose, model_columns
    from tenantry.inspection import UnknownRole

    config = _placement_config(placements_file) if placements_file is not None else None
    engine = _engine(database_url)
    _load_models()
    try:
        report = diagnose(
            engine,
            app_role=app_role,
            schema=schema,
            models=model_columns(),
            version_dirs=host_dirs_in_use(engine),
        )
    except UnknownRole as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:
        _fail(f"cannot read {_safe(database_url)}: {_first_line(exc)}")
    finally:
        engine.dispose()
    where = _safe(database_url) + (f", schema {schema}" if schema else "")
    if not report.facts.tables:
        _fail(f"{where} has no tables: wrong database, or not migrated yet")
    if "tenantry_tenants" not in {t.name for t in report.facts.tables}:
        # Tables of some other app: "ok: no problems" about them said nothing true.
        _fail(
            f"{where} has no tenantry tables (tenantry_tenants): wrong database or schema, "
            "or not migrated yet"
        )
    ddl = citus_ddl(report.facts) if citus else None
    if as_json:
        payload: dict[str, Any] = {
            "ok": report.ok,
            "backend": report.facts.backend,
            "schema": report.facts.schema,
            "tenant_tables": [t.name for t in report.facts.tenant_tables],
            "findings": [f.to_dict() for f in report.findings],
            "notes": list(report.facts.notes),
        }
        if ddl is not None:
            payload["citus_ddl"] = ddl
        typer.echo(json.dumps(payload, indent=2))
    else:
        _print_human(report, to_stderr=citus)
        if ddl is not None:
            typer.echo("\n".join(ddl))
    placements_ok = True
    if config is not None:
        placements_ok = _check_placements(config, database_url, as_json=as_json)
    if not report.ok or not placements_ok:
        raise typer.Exit(EXIT_FINDINGS)


def _placement_config(path: Path) -> PlacementConfig:
    """The placement file, read before any check runs: a bad one fails alone."""
    from tenantry.placement import PlacementConfigError, load_config

    try:
        return load_config(path)
    except PlacementConfigError as exc:
        _fail(exc.message)


def _check_placements(config: PlacementConfig, database_url: str, *, as_json: bool) -> bool:
    """Check every placement of the control database; print one line each (stderr)."""
    from tenantry.doctor import model_columns
    from tenantry.placement.checks import check_placements

    engine = _engine(database_url)
    try:
        results = check_placements(config, engine, models=model_columns())
    finally:
        engine.dispose()
    bad = [r for r in results if not r.ok]
    lines = [f"placements: {len(results)} recorded, {len(bad)} with problems"]
    for result in bad:
        lines += [
            f"  {result.tenant_id} ({result.location.describe()}): {p}" for p in result.problems
        ]
    typer.echo("\n".join(lines), err=as_json)
    return not bad


def _print_human(report: Report, *, to_stderr: bool) -> None:
    facts = report.facts
    names = ", ".join(t.name for t in facts.tenant_tables) or "none"
    out = [f"{facts.backend}, schema {facts.schema or 'main'}: tenant tables: {names}"]
    out += [f"note: {note}" for note in facts.notes]
    out += [f"  {finding}" for finding in report.findings]
    count = len(report.findings)
    out.append(f"{count} problem{'s' if count != 1 else ''} found" if count else "ok: no problems")
    typer.echo("\n".join(out), err=to_stderr)


def _engine(url: str) -> Engine:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from tenantry.cli.database import check_url

    check_url(url, "doctor")
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        path = parsed.database or ""
        # SQLite would silently create a missing file and find it healthy.
        if path in ("", ":memory:") or not Path(path).is_file():
            _fail(f"no SQLite database at {path or '(memory)'!r}")
    elif backend == "postgresql":
        connect_args["connect_timeout"] = 10
    return create_engine(parsed, poolclass=NullPool, connect_args=connect_args)


def _load_models() -> None:
    """Import the models of every installed app (entry points ``tenantry.models``); one
    that cannot be imported is said, and its tables are then unknown to the checks."""
    from importlib.metadata import entry_points

    for point in entry_points(group="tenantry.models"):
        try:
            point.load()
        except ImportError as exc:
            typer.echo(
                f"tenantry doctor: skipped the models of {point.name} ({point.value}): "
                f"{type(exc).__name__}: {exc}",
                err=True,
            )


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _fail(message: str) -> NoReturn:
    typer.echo(f"tenantry doctor: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)
