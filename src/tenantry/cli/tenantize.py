"""``tenantry tenantize``: convert a single-tenant database, verified and reversible."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

EXIT_PROBLEMS = 2


def register(app: typer.Typer) -> None:
    app.command("tenantize")(tenantize)


def tenantize(
    database_url: str = typer.Option(..., "--db", envvar="DATABASE_URL", help="Database URL."),
    mapping_path: Path | None = typer.Option(None, "--map", help="Mapping TOML file."),
    init: bool = typer.Option(False, "--init", help="Draft a mapping from the foreign keys."),
    users_table: str | None = typer.Option(
        None, "--users", help="--init: the table of people, as TABLE or TABLE.EMAIL_COLUMN."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and problems (default)."),
    apply_: bool = typer.Option(False, "--apply", help="Back up, convert and verify."),
    rollback: bool = typer.Option(False, "--rollback", help="Restore the backup."),
    verify_only: bool = typer.Option(False, "--verify", help="Verify a converted database."),
    backup_path: Path | None = typer.Option(
        None, "--backup", help="Where the backup goes (--rollback: which one to restore)."
    ),
    report_path: Path | None = typer.Option(None, "--report", help="Write a JSON report here."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
    force: bool = typer.Option(False, "--force", help="--init: overwrite the mapping file."),
    yes: bool = typer.Option(
        False, "--yes", help="--rollback: discard the rows written since the conversion."
    ),
) -> None:
    """Convert a single-tenant database: dry run first, then --apply; --rollback undoes it."""
    console = Console()
    if sum([init, apply_, rollback, verify_only, dry_run]) > 1:
        _fail(console, "choose one of --init, --dry-run, --apply, --verify, --rollback")
    if users_table is not None and not users_table.strip():
        _fail(console, "--users: name the table of people, as TABLE or TABLE.EMAIL_COLUMN")
    if users_table is not None and not init:
        _fail(console, "--users goes with --init (the mapping's [users] section names them)")
    if yes and not rollback:
        _fail(console, "--yes goes with --rollback")
    try:
        code = _run(
            console,
            database_url,
            mapping_path,
            init=init,
            users_table=users_table,
            apply_=apply_,
            rollback=rollback,
            verify_only=verify_only,
            backup_path=backup_path,
            report_path=report_path,
            quiet=quiet,
            force=force,
            yes=yes,
        )
    except Exception as exc:
        message = _error_message(exc)
        if message is None:
            raise
        _fail(console, message)
    except KeyboardInterrupt:
        said = "interrupted"
        if apply_:  # each step commits on its own: nothing half-written, the rest to do
            said += (
                ": the conversion stopped part-way; run --apply again to resume it, or "
                "--rollback to restore the backup (the dry run shows where it stands)"
            )
        _say(said)
        raise typer.Exit(130) from None
    raise typer.Exit(code)


def _error_message(exc: Exception) -> str | None:
    """What to tell a person about ``exc``: tenantize's own errors and a database refusing
    us are said without a traceback; ``None`` for anything else (a bug: its traceback)."""
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    from tenantry.errors import TenantryError

    if isinstance(exc, TenantryError):
        return exc.message
    if isinstance(exc, SQLAlchemyError | sqlite3.Error):  # backups use sqlite3 itself
        return f"database error: {str(exc).splitlines()[0]}"
    if type(exc).__module__.startswith("psycopg"):  # raised reading a raw cursor (checksums)
        return f"database error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    return None


def _fail(console: Console, message: str) -> None:
    from rich.markup import escape

    _say(f"[red bold]error:[/] {escape(message)}")
    raise typer.Exit(1)


def _say(markup: str) -> None:
    """Print on stderr unwrapped: a path rich folds at the console's width is a path a
    person cannot copy (the terminal still wraps it for the eye)."""
    Console(stderr=True, soft_wrap=True).print(markup, highlight=False)


def _run(
    console: Console,
    url: str,
    mapping_path: Path | None,
    *,
    init: bool,
    users_table: str | None,
    apply_: bool,
    rollback: bool,
    verify_only: bool,
    backup_path: Path | None,
    report_path: Path | None,
    quiet: bool,
    force: bool,
    yes: bool,
) -> int:
    from rich.markup import escape
    from sqlalchemy.engine import make_url

    from tenantry.migrate import (
        TenantizeError,
        apply,
        build_plan,
        default_backup_path,
        draft_mapping,
        finish,
        load_mapping,
        restore,
        state,
        verify,
    )
    from tenantry.migrate.apply import same_mapping
    from tenantry.migrate.backup import check_backup
    from tenantry.migrate.drift import counts_changed, record_stuck, stuck_reason
    from tenantry.migrate.engine import existing_engine, reading_engine
    from tenantry.migrate.plan import Plan
    from tenantry.migrate.postgres_convert import relax_rls
    from tenantry.migrate.progress import Reporter
    from tenantry.migrate.report import (
        as_json,
        check_report_path,
        failure_json,
        print_plan,
        print_verification,
        write_json,
    )

    mapping = None
    if not (init or rollback):
        if mapping_path is None:
            raise TenantizeError("--map is required (tenantize --init drafts one)")
        mapping = load_mapping(mapping_path)
        if report_path is not None:
            check_report_path(report_path)
    # --init and the dry run only read: an engine that cannot write (nor switch to WAL).
    engine = existing_engine(url) if apply_ or rollback or verify_only else reading_engine(url)
    try:
        if init:
            with engine.connect() as conn:
                text = draft_mapping(
                    conn, make_url(url).render_as_string(hide_password=True), users_table
                )
            if mapping_path is None:
                sys.stdout.write(text)
            elif mapping_path.exists() and not force:
                raise TenantizeError(f"{mapping_path} exists; --force overwrites it")
            else:
                mapping_path.write_text(text, encoding="utf-8")
                console.print(
                    f"draft mapping written to {mapping_path}: review it, then dry-run",
                    soft_wrap=True,
                )
            return 0
        if rollback:
            with engine.connect() as conn:
                run = state.get(conn, state.RUN)
                if run and conn.dialect.name == "postgresql":
                    # Forced RLS shows the owner no rows of a finished conversion: every
                    # table read "0 now". Relaxed in this transaction, rolled back below.
                    relax_rls(conn, sorted(state.load_snapshot(conn)))
                changed = counts_changed(conn) if run else []
                conn.rollback()
            source = backup_path or (Path(run[1]["backup"]) if run else None)
            if source is None:
                raise TenantizeError("no conversion recorded here; name the backup with --backup")
            record = check_backup(engine, source, run[1].get("backup_record") if run else None)
            if changed and not yes:
                raise TenantizeError(
                    "the rollback would discard the rows written since the conversion (row "
                    f"counts changed: {'; '.join(changed)}); export what you need, then run "
                    "it again with --yes"
                )
            journal = record.get("journal_mode")
            console.print(
                f"rollback: the database becomes the backup taken at {record.get('taken_at')}; "
                "everything written to it since is discarded"
                + (f" (row counts changed: {'; '.join(changed)})" if changed else ""),
                highlight=False,
            )
            console.print(restore(engine, source.resolve(), journal_mode=journal), soft_wrap=True)
            return 0
        assert mapping is not None
        with engine.connect() as conn:
            status = state.run_status(conn)
            run = state.get(conn, state.RUN)
            stuck = stuck_reason(conn) if status == "converting" else None
            conn.rollback()
        if verify_only:
            if run is None:
                raise TenantizeError("this database was never converted")
            same_mapping(run, mapping)
            plan = Plan.from_dict(run[1]["plan"])
            with Reporter(quiet=quiet) as reporter:
                result = verify(engine, mapping, plan, reporter)
            print_verification(console, result)
            if report_path:
                write_json(report_path, as_json(plan, result, status=status))
            return 0 if result.ok else 1
        if not apply_:
            if run is not None and report_path:  # the recorded plan, and where the run is
                recorded = Plan.from_dict(run[1]["plan"])
                write_json(report_path, as_json(recorded, status=status, stuck=stuck))
            if stuck is not None:  # --apply would only fail again: say why and the way out
                console.print(f"conversion status: [bold]converting, stuck[/]: {escape(stuck)}")
                return 1
            if status is not None:
                same_mapping(run, mapping)  # what --apply and --verify would say
                console.print(
                    f"conversion status: [bold]{status}[/]"
                    + (" (interrupted: --apply resumes it)" if status == "converting" else "")
                    + (
                        f"; the report of the recorded plan is at {report_path}"
                        if report_path
                        else ""
                    )
                )
                return 0
            with engine.connect() as conn:
                plan = build_plan(conn, mapping)
                conn.rollback()
            print_plan(console, plan)
            if report_path:
                write_json(report_path, as_json(plan, status="dry-run"))
            if plan.blocking:
                return EXIT_PROBLEMS
            console.print("dry run only: nothing was changed; --apply converts")
            return 0
        target = backup_path or default_backup_path(url)
        try:
            with Reporter(quiet=quiet) as reporter:
                result_apply = apply(engine, mapping, backup_path=target, reporter=reporter)
                if result_apply.noop:
                    console.print(
                        "already converted: nothing to do"
                        + (
                            f"; the report of the recorded plan is at {report_path}"
                            if report_path
                            else ""
                        )
                    )
                    if report_path:
                        write_json(
                            report_path,
                            as_json(result_apply.plan, status="done", backup=result_apply.backup),
                        )
                    return 0
                checks = verify(engine, mapping, result_apply.plan, reporter)
                if checks.ok:
                    finish(engine, result_apply.plan, reporter)
                    if result_apply.plan.shapes:  # the target tables, checked as built
                        checks = verify(engine, mapping, result_apply.plan, reporter)
        except Exception as exc:  # the report says why the run stopped, as the screen does
            if report_path:
                try:
                    write_json(report_path, failure_json(_error_message(exc) or repr(exc)))
                except TenantizeError as unwritten:  # the run's own error is the one to tell
                    _say(escape(unwritten.message))
            raise
        print_verification(console, checks)
        failed = (
            f"verification failed; the backup {result_apply.backup} is untouched: "
            "--rollback restores it"
        )
        if checks.ok:
            console.print(f"converted; backup kept at {result_apply.backup}", soft_wrap=True)
        else:
            record_stuck(engine, failed)
        if report_path:
            data = as_json(
                result_apply.plan, checks, backup=result_apply.backup, resumed=result_apply.resumed
            )
            try:
                write_json(report_path, data)
            except TenantizeError as unwritten:
                if checks.ok:
                    raise TenantizeError(
                        f"{unwritten.message}; the conversion itself is done and verified "
                        "(--verify --report PATH writes the checks again)"
                    ) from None
                _say(escape(unwritten.message))
        if not checks.ok:
            raise TenantizeError(failed)
        return 0
    finally:
        engine.dispose()
